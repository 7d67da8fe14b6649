"""Reads for the staff portal: lists, pages, the dashboard and chart series.

Amounts are integers in hundredths of a credit. Query counts here do not grow with the
number of rows shown (tests hold the members list and the member page to that).
"""

import datetime as dt
import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from django.core.cache import cache
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Min,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Window
from django.db.models.functions import TruncDate

from billing.models import Account, LedgerEntry, LedgerTransaction
from billing.services import ledger
from members import selectors
from members.models import (
    AuditEvent,
    Delivery,
    Member,
    Operation,
    Plan,
    ReconciliationRun,
    UsageDay,
)
from members.services.operations import effective_status
from members.services.org import org_settings
from orgportal import clock

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
LEDGER_PER_PAGE = 50
CSV_CHUNK = 2000
_MEMBER_KINDS = [
    LedgerTransaction.Kind.MEMBER_CREATE,
    LedgerTransaction.Kind.MEMBER_CHANGE,
    LedgerTransaction.Kind.MEMBER_RENEW,
    LedgerTransaction.Kind.MEMBER_CANCEL,
    LedgerTransaction.Kind.MEMBER_DELETE,
]


# --- members ---------------------------------------------------------------------------


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
    if status == Member.Status.ACTIVE:
        qs = qs.filter(status=Member.Status.ACTIVE, term_end__gt=at)
    elif status == Member.Status.EXPIRED:
        qs = qs.filter(
            Q(status=Member.Status.EXPIRED)
            | Q(status=Member.Status.ACTIVE, term_end__lte=at)
        )
    elif status == Member.Status.CANCELLED:
        qs = qs.filter(status=Member.Status.CANCELLED)
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
        member.shown_status = effective_status(member, now)
    return Page(rows=rows, number=number, pages=pages, total=total)


def member_for_page(uid: str) -> Member | None:
    """The live member with this uid, else the most recently deleted one (history)."""
    live = (
        Member.objects.select_related("plan")
        .filter(uid=uid)
        .exclude(status=Member.Status.DELETED)
        .first()
    )
    if live is not None:
        return live
    return (
        Member.objects.select_related("plan")
        .filter(uid=uid, status=Member.Status.DELETED)
        .order_by("-id")
        .first()
    )


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


def member_detail(member: Member) -> dict:
    now = clock.now()
    usage = member_usage_series(member)
    txns = list(LedgerTransaction.objects.filter(member=member).order_by("-id")[:20])
    wallet_amounts = _wallet_amounts([t.pk for t in txns])
    for txn in txns:
        txn.wallet_amount = wallet_amounts.get(txn.pk, 0)
    operations = list(member.operations.order_by("-id")[:10])
    return {
        "member": member,
        "status": effective_status(member, now),
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


# --- the ledger ---------------------------------------------------------------------


def _wallet_id() -> int:
    return ledger.account_system(ledger.WALLET).pk


def _wallet_amounts(txn_ids: list[int]) -> dict[int, int]:
    if not txn_ids:
        return {}
    return dict(
        LedgerEntry.objects.filter(
            transaction_id__in=txn_ids, account__kind=Account.Kind.WALLET
        )
        .values("transaction_id")
        .annotate(s=Sum("amount"))
        .values_list("transaction_id", "s")
    )


def wallet_snapshot() -> tuple[int, int, int]:
    """(wallet account id, balance, newest transaction id) read by one statement, so both come from
    the same snapshot. Postings are serialised by the wallet lock and commit in id
    order, so every transaction up to that id is visible with it."""
    newest = LedgerTransaction.objects.order_by("-id").values("id")[:1]
    row = (
        Account.objects.filter(code=ledger.WALLET)
        .annotate(newest=Subquery(newest))
        .values_list("pk", "balance", "newest")
        .first()
    )
    if row is None:
        return _wallet_id(), 0, 0
    return row[0], row[1], row[2] or 0


def _wallet_sum(wallet_id: int, low: int, high: int) -> int:
    """Wallet entries of transactions with low < id <= high."""
    return (
        LedgerEntry.objects.filter(
            account_id=wallet_id, transaction_id__gt=low, transaction_id__lte=high
        ).aggregate(s=Sum("amount"))["s"]
        or 0
    )


# Transactions per checkpoint of the wallet's running balance.
CHECKPOINT = 1000
# Up to this many transactions to add up, a page's balances come from per-transaction
# sums; beyond it, from one filtered sum per row.
GROUPED_SPAN = 4 * CHECKPOINT


def _checkpoints(wallet_id: int, newest: int) -> list[int]:
    """prefix[k]: the wallet's balance just after every transaction with id <= k ×
    CHECKPOINT, for every complete block of ids up to `newest`.

    A complete block never changes: the ledger is append-only and postings commit in id
    order under the wallet lock, so once `newest` is visible nothing below it can still
    appear. The sums are therefore cached and only new blocks are ever summed; the cache
    entry names its last transaction (id and time) so that another database behind the
    same cache is noticed and the sums are rebuilt.
    """
    complete = newest // CHECKPOINT
    key = f"portal:wallet-checkpoints:{wallet_id}:{CHECKPOINT}"
    prefix, mark = [0], None
    cached = cache.get(key)
    if cached is not None:
        cached_prefix, cached_mark = cached
        still = cached_mark is None or (
            LedgerTransaction.objects.filter(pk=cached_mark[0])
            .values_list("created_at", flat=True)
            .first()
            == cached_mark[1]
        )
        if still and len(cached_prefix) - 1 <= complete:
            prefix, mark = list(cached_prefix), cached_mark
    have = len(prefix) - 1
    if have < complete:
        blocks = dict(
            LedgerEntry.objects.filter(
                account_id=wallet_id,
                transaction_id__gt=have * CHECKPOINT,
                transaction_id__lte=complete * CHECKPOINT,
            )
            .annotate(block=(F("transaction_id") - 1) / CHECKPOINT)
            .values("block")
            .annotate(s=Sum("amount"))
            .values_list("block", "s")
        )
        for block in range(have, complete):
            prefix.append(prefix[-1] + (blocks.get(block) or 0))
        mark = (
            LedgerTransaction.objects.filter(id__lte=complete * CHECKPOINT)
            .order_by("-id")
            .values_list("id", "created_at")
            .first()
        )
        cache.set(key, (prefix, mark), None)
    return prefix


def balances_after(wallet_id: int, newest: int, ids: list[int]) -> dict[int, int]:
    """The wallet's balance just after each of these transactions (ids <= newest): its
    block's checkpoint plus the block's own entries up to it. One query for the page,
    reading at most CHECKPOINT transactions per block the rows fall in."""
    if not ids:
        return {}
    prefix = _checkpoints(wallet_id, newest)
    reach: dict[int, int] = {}  # block → highest id needed in it
    for txn_id in ids:
        block = (txn_id - 1) // CHECKPOINT
        reach[block] = max(reach.get(block, 0), txn_id)
    where = Q()
    for block, top in reach.items():
        where |= Q(transaction_id__gt=block * CHECKPOINT, transaction_id__lte=top)
    wallet = LedgerEntry.objects.filter(where, account_id=wallet_id)
    span = sum(top - block * CHECKPOINT for block, top in reach.items())
    if span <= GROUPED_SPAN:
        # Dense (a page of the whole ledger): per-transaction sums, added up here.
        moved = dict(
            wallet.values("transaction_id")
            .annotate(s=Sum("amount"))
            .values_list("transaction_id", "s")
        )
        keys = sorted(moved)
        running = list(accumulate(moved[k] for k in keys))

        def upto(txn_id: int) -> int:
            i = bisect_right(keys, txn_id)
            return running[i - 1] if i else 0

        within = {
            txn_id: upto(txn_id) - upto((txn_id - 1) // CHECKPOINT * CHECKPOINT)
            for txn_id in ids
        }
    else:
        # Sparse (a filtered page spread over many blocks): one sum per row.
        sums = wallet.aggregate(
            **{
                f"t{txn_id}": Sum(
                    "amount",
                    filter=Q(
                        transaction_id__gt=(txn_id - 1) // CHECKPOINT * CHECKPOINT,
                        transaction_id__lte=txn_id,
                    ),
                )
                for txn_id in ids
            }
        )
        within = {txn_id: sums[f"t{txn_id}"] or 0 for txn_id in ids}
    return {
        txn_id: prefix[(txn_id - 1) // CHECKPOINT] + within[txn_id] for txn_id in ids
    }


@dataclass
class RunningBalance:
    """Walks the ledger newest to oldest: `balance` is the wallet's balance just after
    every transaction with id <= `pos` was posted. For exports, which read every row."""

    wallet_id: int
    pos: int
    balance: int

    def walk(self, ids: list[int], sums: list[tuple[int, int]] | None = None):
        """The balance just after each of these transactions (newest first, ids <=
        pos). `sums`: the wallet's (transaction id, amount) for every id in
        (ids[-1], ids[0]], newest first, when the caller has read them already."""
        if not ids:
            return []
        first, last = ids[0], ids[-1]
        if self.pos > first:
            self.balance -= _wallet_sum(self.wallet_id, first, self.pos)
            self.pos = first
        if sums is None:
            sums = list(
                LedgerEntry.objects.filter(
                    account_id=self.wallet_id,
                    transaction_id__gt=last,
                    transaction_id__lte=first,
                )
                .values("transaction_id")
                .annotate(s=Sum("amount"))
                .order_by("-transaction_id")
                .values_list("transaction_id", "s")
            )
        out, i = [], 0
        for txn_id in ids:
            # Take off everything posted after this row and not yet taken off.
            while i < len(sums) and sums[i][0] > txn_id:
                self.balance -= sums[i][1]
                i += 1
            out.append(self.balance)
            self.pos = txn_id
        return out


def _ledger_filtered(*, kind="", uid="", since=None, until=None):
    qs = LedgerTransaction.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    if uid:
        qs = qs.filter(
            member_id__in=list(
                Member.objects.filter(uid=uid).values_list("pk", flat=True)
            )
        )
    if since:
        qs = qs.filter(created_at__gte=dt.datetime.combine(since, dt.time(), dt.UTC))
    if until:
        qs = qs.filter(
            created_at__lt=dt.datetime.combine(
                until + dt.timedelta(days=1), dt.time(), dt.UTC
            )
        )
    return qs


@dataclass
class LedgerPage:
    rows: list
    next_before: int | None
    balance: int
    newest: int
    filtered: bool = False
    entries: dict = field(default_factory=dict)


def ledger_page(
    *, kind="", uid="", since=None, until=None, before=None, limit=LEDGER_PER_PAGE
) -> LedgerPage:
    """Newest first, keyset-paginated on id (`before`: show ids below it), each row
    with the wallet's balance just after it."""
    wallet_id, balance, newest = wallet_snapshot()
    qs = _ledger_filtered(kind=kind, uid=uid, since=since, until=until).filter(
        id__lte=newest
    )
    rows, next_before = selectors.keyset_page(
        qs.select_related("member"), before=before, limit=limit
    )
    entries: dict[int, list[LedgerEntry]] = {}
    for entry in LedgerEntry.objects.filter(
        transaction_id__in=[r.pk for r in rows]
    ).select_related("account"):
        entries.setdefault(entry.transaction_id, []).append(entry)
    for row in rows:
        own = entries.get(row.pk, [])
        row.wallet_amount = sum(e.amount for e in own if e.account_id == wallet_id)
        row.other_accounts = [e.account.code for e in own if e.account_id != wallet_id]
    after = balances_after(wallet_id, newest, [r.pk for r in rows])
    for row in rows:
        row.balance_after = after[row.pk]
    return LedgerPage(
        rows=rows,
        next_before=next_before,
        balance=balance,
        newest=newest,
        filtered=bool(kind or uid or since or until),
    )


CSV_HEADER = [
    "id",
    "created_at",
    "kind",
    "member",
    "memo",
    "actor",
    "wallet_amount",
    "wallet_balance_after",
    "counter_accounts",
    "reverses",
]


def ledger_csv_rows(*, kind="", uid="", since=None, until=None) -> Iterator[list]:
    """Every matching transaction, newest first, read CSV_CHUNK at a time by keyset so
    memory stays flat however long the ledger is."""
    from billing.money import format_amount

    wallet_id, _, newest = wallet_snapshot()
    filtered = bool(kind or uid or since or until)
    codes: dict[int, str] = {}
    yield CSV_HEADER
    qs = _ledger_filtered(kind=kind, uid=uid, since=since, until=until).filter(
        id__lte=newest
    )
    walker = None
    before = newest + 1
    while True:
        rows = list(
            qs.filter(id__lt=before)
            .order_by("-id")
            .values_list(
                "id",
                "created_at",
                "kind",
                "member__uid",
                "memo",
                "actor",
                "reverses_id",
            )[:CSV_CHUNK]
        )
        if not rows:
            return
        ids = [row[0] for row in rows]
        if filtered:
            chunk = Q(transaction_id__in=ids)
        else:  # consecutive ids: an index range beats a long IN list
            chunk = Q(transaction_id__gte=ids[-1], transaction_id__lte=ids[0])
        found = list(
            LedgerEntry.objects.filter(chunk)
            .order_by("-transaction_id", "id")
            .values_list("transaction_id", "account_id", "amount")
        )
        # Account codes by id, read once each (joining them per chunk scans accounts).
        unseen = {account_id for _, account_id, _ in found} - codes.keys()
        if unseen:
            codes.update(
                Account.objects.filter(pk__in=unseen).values_list("pk", "code")
            )
        entries: dict[int, list[tuple[int, str, int]]] = {}
        for txn_id, account_id, amount in found:
            entries.setdefault(txn_id, []).append(
                (account_id, codes[account_id], amount)
            )
        wallet_moves = [
            (txn_id, sum(a for acc, _, a in own if acc == wallet_id))
            for txn_id, own in entries.items()
        ]
        if walker is None:
            start = balances_after(wallet_id, newest, [ids[0]])[ids[0]]
            walker = RunningBalance(wallet_id, ids[0], start)
        # Unfiltered, this chunk's entries are every wallet move between its rows.
        balances = walker.walk(
            ids, sums=None if filtered else [m for m in wallet_moves if m[0] > ids[-1]]
        )
        moved = dict(wallet_moves)
        for (txn_id, at, kind_, member_uid, memo, actor, reverses), after in zip(
            rows, balances, strict=True
        ):
            yield [
                txn_id,
                at.isoformat(),
                kind_,
                member_uid or "",
                memo,
                actor,
                format_amount(moved.get(txn_id, 0)),
                format_amount(after),
                " ".join(
                    f"{code}:{format_amount(a)}"
                    for acc, code, a in entries.get(txn_id, [])
                    if acc != wallet_id
                ),
                reverses or "",
            ]
        before = ids[-1]


# --- dashboard ------------------------------------------------------------------------


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
            account_id=_wallet_id(),
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


def balance_series(
    *, days: int, balance: int, flows: dict[dt.date, tuple[int, int]]
) -> list:
    """The wallet's closing balance on each of the last `days` days (UTC)."""
    today = clock.now().date()
    points = []
    closing = balance
    for i in range(days):
        day = today - dt.timedelta(days=i)
        points.append((day.strftime("%m-%d"), closing))
        closing -= flows.get(day, (0, 0))[0]
    return list(reversed(points))


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


def members_by_plan_status() -> dict:
    now = clock.now()
    shown = Case(
        When(status=Member.Status.ACTIVE, term_end__lte=now, then=Value("expired")),
        default=F("status"),
        output_field=CharField(),
    )
    counts = (
        Member.objects.exclude(status=Member.Status.DELETED)
        .annotate(shown=shown)
        .values("plan__name", "shown")
        .annotate(n=Count("id"))
    )
    statuses = ["active", "cancelled", "expired"]
    table: dict[str, dict[str, int]] = {}
    for row in counts:
        table.setdefault(row["plan__name"], dict.fromkeys(statuses, 0))[
            row["shown"]
        ] = row["n"]
    plans = [p for p in Plan.objects.values_list("name", flat=True) if p in table]
    return {
        "statuses": statuses,
        "rows": [
            (p, [table[p][s] for s in statuses], sum(table[p].values())) for p in plans
        ],
        "totals": [sum(table[p][s] for p in table) for s in statuses],
        "total": sum(sum(v.values()) for v in table.values()),
    }


def renewals_upcoming(*, days: int = 7) -> list[dict]:
    """Auto-renewals due within `days`, soonest first (price in hundredths)."""
    return selectors.renewals_due(within=dt.timedelta(days=days))


def dashboard() -> dict:
    now = clock.now()
    settings_row = org_settings()
    balance = selectors.balance_out()
    wallet_balance = ledger.account_system(ledger.WALLET).balance
    flows = wallet_flows_by_day(days=30)
    spent = sum(spent for _, spent in flows.values())
    burn_per_day = spent / 30
    runway = (wallet_balance / burn_per_day) if burn_per_day > 0 else None
    renewals = renewals_upcoming(days=7)
    renewals_cost = sum(r["price"] for r in renewals)
    expiring_manual = Member.objects.filter(
        status=Member.Status.ACTIVE,
        auto_renew=False,
        term_end__gt=now,
        term_end__lte=now + dt.timedelta(days=7),
    ).count()
    window = settings_row.low_balance_days
    due_in_window = (
        renewals_cost
        if window == 7
        else sum(r["price"] for r in renewals_upcoming(days=window))
    )
    available = wallet_balance - ledger.wallet_holds()
    alerts = []
    if due_in_window > available:
        alerts.append(
            {
                "level": "danger",
                "text": f"Low balance: renewals due in the next {window} days cost "
                f"{due_in_window / 100:,.2f} credits and the wallet has "
                f"{available / 100:,.2f} available.",
                "link": "/credits/",
                "link_text": "Buy credits",
            }
        )
    elif runway is not None and runway < window:
        alerts.append(
            {
                "level": "warning",
                "text": f"At the last 30 days' spending the wallet lasts about "
                f"{runway:.0f} days.",
                "link": "/credits/",
                "link_text": "Buy credits",
            }
        )
    over_quota = list(
        Member.objects.filter(status=Member.Status.ACTIVE, quota_exceeded=True)
        .order_by("uid")
        .values_list("uid", flat=True)[:6]
    )
    if over_quota:
        alerts.append(
            {
                "level": "warning",
                "text": "Over their monthly quota: "
                + ", ".join(over_quota[:5])
                + (" and more" if len(over_quota) > 5 else ""),
                "link": "/members/?q=",
                "link_text": "Members",
            }
        )
    stuck = Operation.objects.filter(status__in=Operation.IN_FLIGHT).count()
    if stuck:
        alerts.append(
            {
                "level": "warning",
                "text": f"{stuck} member operation{'s' if stuck != 1 else ''} waiting "
                "for the upstream's answer (resolved automatically; nothing is charged "
                "twice).",
                "link": "/audit/?action=member.",
                "link_text": "Audit log",
            }
        )
    failed = Delivery.objects.filter(
        status__in=[Delivery.Status.FAILED, Delivery.Status.DEAD]
    ).count()
    if failed:
        alerts.append(
            {
                "level": "danger",
                "text": f"{failed} notification deliver{'ies' if failed != 1 else 'y'} "
                "failed or gave up.",
                "link": "/notifications/?status=failed",
                "link_text": "Delivery log",
            }
        )
    last_run = ReconciliationRun.objects.order_by("-started_at", "-id").first()
    if last_run is not None and last_run.reported:
        alerts.append(
            {
                "level": "warning",
                "text": f"The last reconciliation with upstream reported "
                f"{len(last_run.reported)} difference(s) needing a person.",
                "link": "/audit/",
                "link_text": "Audit log",
            }
        )
    return {
        "balance": balance,
        "wallet_balance": wallet_balance,
        "spent_30": spent,
        "runway_days": runway,
        "renewals": renewals[:20],
        "renewals_count": len(renewals),
        "renewals_cost": renewals_cost,
        "expiring_manual": expiring_manual,
        "by_plan": members_by_plan_status(),
        "alerts": alerts,
        "balance_points": balance_series(days=30, balance=wallet_balance, flows=flows),
        "usage_points": usage_series(days=30),
        "top_members": top_members_by_requests(days=30),
        "plan_points": spent_per_plan(days=30),
    }


# --- plans, audit, notifications ------------------------------------------------------


def plans_with_counts() -> list[Plan]:
    return list(
        Plan.objects.annotate(
            live_members=Count(
                "members", filter=~Q(members__status=Member.Status.DELETED)
            )
        ).order_by("is_custom", "price", "name")
    )


def audit_page(*, actor="", action="", object_id="", before=None, limit=50):
    qs = AuditEvent.objects.all()
    if actor:
        qs = qs.filter(actor=actor)
    if action:
        qs = qs.filter(action__startswith=action)
    if object_id:
        qs = qs.filter(object_id=object_id)
    return selectors.keyset_page(qs, before=before, limit=limit)


def deliveries_page(*, status="", before=None, limit=50):
    qs = Delivery.objects.select_related("notification", "endpoint")
    if status == "failed":
        qs = qs.filter(status__in=[Delivery.Status.FAILED, Delivery.Status.DEAD])
    elif status:
        qs = qs.filter(status=status)
    return selectors.keyset_page(qs, before=before, limit=limit)
