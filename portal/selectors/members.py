"""The members list and a member's page.

Amounts are integers in hundredths of a credit. Query counts here do not grow with the
number of rows shown (tests hold the members list and the member page to that).
"""

import math
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.expressions import Window

from billing.models import LedgerTransaction
from members import selectors
from members.models import Member, Operation
from members.status import status_at
from orgportal import clock
from portal.selectors.balances import wallet_amounts
from portal.selectors.series import member_usage_series

MEMBERS_PER_PAGE = 25
# Orders the members list offers; each has an index to walk (uid; id) or is cheap to sort.
MEMBER_SORTS = {
    "uid": ("uid", "id"),
    "-uid": ("-uid", "-id"),
    "newest": ("-id",),
    "oldest": ("id",),
    "term_end": ("term_end", "id"),
    "-term_end": ("-term_end", "-id"),
}


@dataclass
class Page:
    rows: list
    number: int = 1
    pages: int = 1
    total: int = 0

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def _members_filtered(*, q="", plan="", status="", at=None):
    at = at or clock.now()
    if status == Member.Status.DELETED:
        qs = Member.objects.filter(status=Member.Status.DELETED)
    else:
        qs = Member.objects.exclude(status=Member.Status.DELETED)
    if status in (
        Member.Status.ACTIVE,
        Member.Status.EXPIRED,
        Member.Status.CANCELLED,
    ):
        qs = qs.status_at(status, at)
    if plan:
        qs = qs.filter(plan__name=plan)
    if q:
        qs = qs.filter(
            Q(uid__icontains=q) | Q(full_name__icontains=q) | Q(email__icontains=q)
        )
    return qs


def members_list(
    *, q="", plan="", status="", sort="uid", page=1, per_page=MEMBERS_PER_PAGE
) -> Page:
    """One page of members in a constant number of queries.

    Listing: COUNT, then the page's ids walking an index (the live-uid index for the
    default order), then their rows. A text search must read every row anyway, so the
    ids carry the total as a window count and the table is scanned once; a page past
    the end is clamped.
    """
    now = clock.now()
    qs = _members_filtered(q=q, plan=plan, status=status, at=now)
    # Ids first, then their rows: the narrow ordered read can walk an index (the plan
    # join would make PostgreSQL sort whole joined rows for a deep page).
    ordered = qs.order_by(*MEMBER_SORTS.get(sort, MEMBER_SORTS["uid"]))
    page = max(1, page)
    if q:
        found = list(
            ordered.annotate(total=Window(Count("id"))).values_list("pk", "total")[
                (page - 1) * per_page : page * per_page
            ]
        )
        total = found[0][1] if found else (qs.count() if page > 1 else 0)
        ids = [pk for pk, _ in found]
        pages = max(1, math.ceil(total / per_page))
        number = min(page, pages)
        if not found and number != page and total:
            offset = (number - 1) * per_page
            ids = list(ordered.values_list("pk", flat=True)[offset : offset + per_page])
    else:
        total = qs.count()
        pages = max(1, math.ceil(total / per_page))
        number = min(page, pages)
        offset = (number - 1) * per_page
        ids = list(ordered.values_list("pk", flat=True)[offset : offset + per_page])
    by_id = Member.objects.select_related("plan").in_bulk(ids)
    rows = [by_id[pk] for pk in ids]
    for member in rows:
        member.shown_status = status_at(member.status, member.term_end, now)
    return Page(rows=rows, number=number, pages=pages, total=total)


def live_member(uid: str) -> Member | None:
    return (
        Member.objects.select_related("plan")
        .filter(uid=uid)
        .exclude(status=Member.Status.DELETED)
        .first()
    )


def member_for_page(uid: str) -> Member | None:
    """The live member with this uid, else the most recently deleted one (history)."""
    live = live_member(uid)
    if live is not None:
        return live
    return (
        Member.objects.select_related("plan")
        .filter(uid=uid, status=Member.Status.DELETED)
        .order_by("-id")
        .first()
    )


def member_detail(member: Member) -> dict:
    now = clock.now()
    usage = member_usage_series(member)
    txns = list(LedgerTransaction.objects.filter(member=member).order_by("-id")[:20])
    amounts = wallet_amounts([t.pk for t in txns])
    for txn in txns:
        txn.wallet_amount = amounts.get(txn.pk, 0)
    operations = list(member.operations.order_by("-id")[:10])
    for op in operations:
        # An operation's amount charges (+) or credits (−) the member; the page shows
        # what it moves into (+) or out of (−) the wallet, as the ledger does.
        op.wallet_amount = -op.amount
    return {
        "member": member,
        "status": status_at(member.status, member.term_end, now),
        "limits": selectors.member_limits(member),
        "terms": list(member.terms.order_by("-start", "-id")[:10]),
        "keys": list(member.gateway_keys.all()[:10]),
        "transactions": txns,
        "operations": operations,
        "usage": usage,
        "usage_total": sum(v for _, v in usage),
        "term_actions": list(member.term_actions.order_by("-id")[:10]),
        "in_flight": any(op.status in Operation.IN_FLIGHT for op in operations),
    }
