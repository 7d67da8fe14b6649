"""The charts' data: daily series over the last days (UTC), the wallet's flows and
balance, gateway usage, the busiest members and the credits spent per plan.

Amounts are integers in hundredths of a credit.
"""

import datetime as dt

from django.db.models import F, Min, Q, Sum
from django.db.models.functions import TruncDate

from billing.models import LedgerEntry, LedgerTransaction
from billing.selectors import wallet_account_id
from members.models import Member, Operation, UsageDay
from orgportal import clock

_MEMBER_KINDS = [
    LedgerTransaction.Kind.MEMBER_CREATE,
    LedgerTransaction.Kind.MEMBER_CHANGE,
    LedgerTransaction.Kind.MEMBER_RENEW,
    LedgerTransaction.Kind.MEMBER_CANCEL,
    LedgerTransaction.Kind.MEMBER_DELETE,
]


def daily_series(rows: dict[dt.date, int], *, days: int, end: dt.date) -> list:
    """(label, value) for each of `days` days up to `end`, zero where there is no row."""
    start = end - dt.timedelta(days=days - 1)
    return [
        (d.strftime("%m-%d"), rows.get(d, 0))
        for d in (start + dt.timedelta(days=i) for i in range(days))
    ]


def member_usage_series(member: Member, *, days: int = 30) -> list:
    today = clock.now().date()
    rows = dict(
        UsageDay.objects.filter(
            member=member, day__gt=today - dt.timedelta(days=days)
        ).values_list("day", "requests")
    )
    return daily_series(rows, days=days, end=today)


def _first_since(start: dt.datetime) -> int | None:
    """The lowest transaction id at or after `start`, read from the created_at index
    (`id + 0` keeps PostgreSQL from walking the primary key instead), so the entries can
    be read by id range rather than by joining the whole ledger on time."""
    return LedgerTransaction.objects.filter(created_at__gte=start).aggregate(
        first=Min(F("id") + 0)
    )["first"]


def wallet_flows_by_day(*, days: int = 30) -> dict[dt.date, tuple[int, int]]:
    """Per UTC day of the last `days` (today included): (everything the wallet gained
    or lost, what member operations took net of credits given back), in hundredths."""
    today = clock.now().date()
    start = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), dt.UTC)
    first = _first_since(start)
    if first is None:
        return {}
    rows = (
        LedgerEntry.objects.filter(
            account_id=wallet_account_id(),
            transaction_id__gte=first,
            transaction__created_at__gte=start,
        )
        .annotate(day=TruncDate("transaction__created_at"))
        .values("day")
        .annotate(
            moved=Sum("amount"),
            members=Sum("amount", filter=Q(transaction__kind__in=_MEMBER_KINDS)),
        )
        .values_list("day", "moved", "members")
    )
    return {day: (moved, -(members or 0)) for day, moved, members in rows}


# A wallet younger than this many days, with no more transactions than
# HISTORY_MOVES, is charted transaction by transaction: by day it would be one step.
YOUNG_DAYS = 2
HISTORY_MOVES = 60


def balance_series(
    *, days: int, balance: int, flows: dict[dt.date, tuple[int, int]]
) -> tuple[str, list]:
    """The wallet's history for its chart, (what a point is, points): a young wallet's
    balance after each transaction ("transaction"); else its closing balance on each
    of the last `days` days (UTC), from the day before its first transaction when
    that is within them ("day")."""
    today = clock.now().date()
    first = LedgerTransaction.objects.order_by("id").values_list(
        "created_at", flat=True
    )[:1]
    first_day = first[0].date() if first else today
    if first_day > today - dt.timedelta(days=YOUNG_DAYS):
        moves = list(
            LedgerEntry.objects.filter(account_id=wallet_account_id())
            .values("transaction_id")
            .annotate(s=Sum("amount"))
            .order_by("transaction_id")
            .values_list("transaction_id", "s")[: HISTORY_MOVES + 1]
        )
        if len(moves) <= HISTORY_MOVES:
            points, running = [("start", 0)], 0
            for txn_id, moved in moves:
                running += moved
                points.append((f"#{txn_id}", running))
            return "transaction", points
    points = []
    closing = balance
    for i in range(min(days, (today - first_day).days + 2)):
        day = today - dt.timedelta(days=i)
        points.append((day.strftime("%m-%d"), closing))
        closing -= flows.get(day, (0, 0))[0]
    return "day", list(reversed(points))


def usage_series(*, days: int = 30) -> list:
    today = clock.now().date()
    rows = dict(
        UsageDay.objects.filter(day__gt=today - dt.timedelta(days=days))
        .values("day")
        .annotate(s=Sum("requests"))
        .values_list("day", "s")
    )
    return daily_series(rows, days=days, end=today)


def top_members_by_requests(*, days: int = 30, limit: int = 10) -> list[dict]:
    today = clock.now().date()
    return list(
        UsageDay.objects.filter(day__gt=today - dt.timedelta(days=days))
        .values("member__uid")
        .annotate(requests=Sum("requests"))
        .order_by("-requests")[:limit]
    )


def spent_per_plan(*, days: int = 30) -> list[tuple[str, int]]:
    """Net credits (hundredths) settled member operations moved, per plan: charges for
    the plan bought, minus credits given back for the plan left."""
    since = clock.now() - dt.timedelta(days=days)
    totals: dict[str, int] = {}
    for kind, request, expected, amount in (
        Operation.objects.filter(
            status=Operation.Status.SUCCEEDED, resolved_at__gte=since
        )
        .exclude(amount=0)
        .values_list("kind", "request", "expected", "amount")
    ):
        if kind in (Operation.Kind.CANCEL, Operation.Kind.DELETE):
            plan = (expected or {}).get("plan")
        else:
            plan = (request or {}).get("plan")
        key = plan or "unknown"
        totals[key] = totals.get(key, 0) + amount
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
