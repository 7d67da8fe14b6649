"""`{% brokerage_card %}`: the brokerage card on a member's page, read here so the
member page's view needs no change. Never carries a token."""

from django import template

from brokerage import rules, selectors
from brokerage.forms import BrokerageLinkForm
from members.models import Member

register = template.Library()


@register.inclusion_tag("brokerage/_card.html", takes_context=True)
def brokerage_card(context) -> dict:
    member = context["member"]
    live = member.status != Member.Status.DELETED
    link = selectors.link_for_member(member) if live else None
    status = selectors.link_status(link) if link else None
    return {
        "member": member,
        "live": live,
        "link": link,
        "token_status": status,
        "status_help": rules.TOKEN_STATUS_HELP.get(status) if status else "",
        "can_admin": context.get("can_admin", False),
        "form": BrokerageLinkForm(
            auto_id="brokerage_%s",
            initial={"account_ids": "\n".join(link.account_ids)} if link else None,
        ),
        "csrf_token": context.get("csrf_token"),
    }
