"""Reading a member's state: its status at an instant and the paid terms still open."""

import datetime as dt

from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Concat

from billing import proration
from members import caches
from members.errors import NotFound
from members.models import GatewayKey, Member, MemberTerm

# The member's live gateway key, masked as GatewayKey.masked shows it.
_LIVE_KEY_MASKED = Subquery(
    GatewayKey.objects.filter(member=OuterRef("pk"), revoked_at=None)
    .annotate(masked=Concat("prefix", Value("…"), "last4"))
    .values("masked")[:1]
)


def open_terms(member: Member, at: dt.datetime) -> list[MemberTerm]:
    """Paid terms not closed early that still have time left at `at`: the running one and
    any renewal paid ahead."""
    return list(member.terms.filter(closed_at=None, end__gt=at).order_by("start", "id"))


def paid_terms(terms: list[MemberTerm]) -> list[proration.PaidTerm]:
    return [proration.PaidTerm(price=t.price, start=t.start, end=t.end) for t in terms]


def member_locked(
    members: QuerySet, *, with_account: bool = False, with_live_key: bool = False
) -> Member | None:
    """The member `members` finds (by id or live uid), its row locked for the rest of
    the transaction (not its plan's: members on one plan must not queue behind each
    other). The lock's
    query joins nothing that can change: after waiting for the lock, PostgreSQL rechecks
    a join against the row as it was before the wait (a plan changed meanwhile would
    lose the member), so the plan is read after the lock, from the process cache.
    `with_account`: its ledger account joined too (that join's key, the member's id,
    never changes); `with_live_key`: its live gateway key read in the same statement,
    masked (`live_key_masked`, for the answer; members.services.operations
    .member_key_masked)."""
    members = members.select_for_update(of=("self",))
    if with_account:
        members = members.select_related("account")
    if with_live_key:
        members = members.annotate(live_key_masked=_LIVE_KEY_MASKED)
    # At most one row (callers look a member up by id or live uid): no ORDER BY to
    # build or run, as `first()` would add.
    member = next(iter(members.order_by()[:1]), None)
    if member is not None:
        member.plan = caches.plan_by_id(member.plan_id)
    return member


def member_get_live(uid: str, *, lock: bool = False) -> Member:
    """The member with `uid` unless deleted; `lock`: its row locked for the rest of the
    transaction (`member_locked`), the first lock of an operation on it."""
    members = Member.objects.filter(uid=uid).exclude(status=Member.Status.DELETED)
    member = member_locked(members) if lock else members.select_related("plan").first()
    if member is None:
        raise NotFound(
            f"No member with uid {uid!r}", code="MEMBER_NOT_FOUND", details={"uid": uid}
        )
    return member
