"""Reading a member's state: its status at an instant and the paid terms still open."""

import datetime as dt
import functools

from django.db import connection
from django.db.models import F, OuterRef, Subquery, Value
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


# Stand-ins for the id or uid of a lock query compiled once: no member has either.
_MARKS = {"pk": -7_301_593, "uid": "\x00member"}


@functools.cache
def _lock_query(by: str, settling: bool, vendor: str) -> tuple[str, tuple]:
    """The SQL and parameters of `member_lock` (the stand-in `_MARKS[by]` in place of
    the id or uid)."""
    members = Member.objects.filter(**{by: _MARKS[by]})
    if by == "uid":
        members = members.exclude(status=Member.Status.DELETED)
    members = members.select_for_update(of=("self",))
    if settling:
        members = members.annotate(
            live_key_masked=_LIVE_KEY_MASKED, account_pk=F("account__id")
        )
    return members.order_by()[:1].query.sql_with_params()


def member_lock(by: str, value, *, settling: bool = False) -> Member | None:
    """The member whose id (`by="pk"`) or live uid (`by="uid"`) is `value`, its row
    locked for the rest of the transaction (not its plan's: members on one plan must
    not queue behind each other). The lock's query joins nothing that can change: after
    waiting for the lock, PostgreSQL rechecks a join against the row as it was before
    the wait (a plan changed meanwhile would lose the member), so the plan is read after
    the lock, from the process cache. `settling`: with what a settle needs in the same
    statement, its live gateway key masked (`live_key_masked`; members.services
    .operations.member_key_masked) and its ledger account's id (`account_pk`, None if it
    has none yet; billing.services.ledger.account_for_member; that join's key, the
    member's id, never changes).

    The query is compiled once per process: building it (the live key's subquery above
    all) cost the web process more CPU than running it."""
    sql, params = _lock_query(by, settling, connection.vendor)
    mark = _MARKS[by]
    values = [value if p == mark else p for p in params]
    member = next(iter(Member.objects.raw(sql, values)), None)
    if member is not None:
        member.plan = caches.plan_by_id(member.plan_id)
    return member


def member_get_live(uid: str, *, lock: bool = False) -> Member:
    """The member with `uid` unless deleted; `lock`: its row locked for the rest of the
    transaction (`member_lock`), the first lock of an operation on it."""
    if lock:
        member = member_lock("uid", uid)
    else:
        members = Member.objects.filter(uid=uid).exclude(status=Member.Status.DELETED)
        member = members.select_related("plan").first()
    if member is None:
        raise NotFound(
            f"No member with uid {uid!r}", code="MEMBER_NOT_FOUND", details={"uid": uid}
        )
    return member
