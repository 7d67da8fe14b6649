"""Portal pages for a member's brokerage link: link or replace, and unlink. Viewers see
the card on the member's page; changing a link needs the admin role (or owner)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from brokerage import selectors, services
from brokerage.forms import BrokerageLinkForm
from members.models import Member
from portal.views.common import (
    actor,
    confirm_then_act,
    form_page,
    role_required,
    with_live_member,
)


def _back_url(uid: str) -> str:
    return reverse("portal:member", kwargs={"uid": uid}) + "#brokerage"


def _back(uid: str):
    return redirect(_back_url(uid))


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member()
def link(request, uid: str, member: Member):
    def save(data):
        _link, created = services.brokerage_link(uid=uid, actor=actor(request), **data)
        n = len(data["account_ids"])
        messages.success(
            request,
            f"{'Linked' if created else 'Replaced the brokerage link of'} {uid}"
            f"{' to' if created else ':'} {n} account{'s' if n != 1 else ''}.",
        )
        return _back(uid)

    existing = selectors.link_for_member(member)
    if request.method == "GET" and existing is not None:
        form = BrokerageLinkForm(
            initial={"account_ids": "\n".join(existing.account_ids)}
        )
    else:
        form = BrokerageLinkForm(request.POST or None)
    return form_page(
        request,
        form,
        save,
        "brokerage/link.html",
        {"member": member, "replacing": existing is not None},
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member()
def unlink(request, uid: str, member: Member):
    if request.method == "GET" and selectors.link_for_member(member) is None:
        messages.error(request, f"{uid} has no brokerage link.")
        return _back(uid)
    return confirm_then_act(
        request,
        act=lambda: services.brokerage_unlink(uid=uid, actor=actor(request)),
        done=f"Unlinked {uid} from its brokerage; its account streams close within "
        "seconds.",
        back_url=_back_url(uid),
        title=f"Unlink {uid} from its brokerage",
        message="The stored tokens are deleted and the member's account streams "
        "close within seconds. Linking again needs a new token pair.",
        button="Unlink",
    )
