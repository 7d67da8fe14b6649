"""The ledger page and its CSV export: transactions newest first, each with the
wallet's balance just after it.

Amounts are integers in hundredths of a credit.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, Sum

from billing import selectors as wallet
from billing.models import Account, LedgerEntry, LedgerTransaction
from billing.money import format_amount
from members import selectors
from members.models import Member
from portal.selectors.balances import RunningBalance, balances_after, wallet_snapshot

LEDGER_PER_PAGE = 50
CSV_CHUNK = 2000


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
    reversed_by = LedgerTransaction.objects.filter(reverses=OuterRef("pk"))
    rows, next_before = selectors.keyset_page(
        qs.select_related("member").annotate(reversed=Exists(reversed_by)),
        before=before,
        limit=limit,
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


@dataclass
class ReversalReview:
    original: LedgerTransaction
    wallet_amount: (
        int  # hundredths the reversal moves into (+) or out of (-) the wallet
    )
    balance: int
    available: int


def reversal_review(transaction_id: int) -> ReversalReview | None:
    """What reversing a manual adjustment would do to the wallet; None when there is
    no such transaction (the service decides whether it may be reversed)."""
    original = LedgerTransaction.objects.filter(pk=transaction_id).first()
    if original is None:
        return None
    moved = (
        LedgerEntry.objects.filter(
            transaction=original, account__kind=Account.Kind.WALLET
        ).aggregate(s=Sum("amount"))["s"]
        or 0
    )
    balance = wallet.wallet_balance()
    return ReversalReview(
        original=original,
        wallet_amount=-moved,
        balance=balance,
        available=balance - wallet.wallet_holds(),
    )
