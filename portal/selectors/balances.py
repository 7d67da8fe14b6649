"""The wallet's balance just after each ledger transaction, for the ledger page and its
CSV export, and the wallet's share of transactions.

Amounts are integers in hundredths of a credit.
"""

from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from django.core.cache import cache
from django.db.models import F, Q, Subquery, Sum

from billing.models import Account, LedgerEntry, LedgerTransaction
from billing.selectors import wallet_account_id
from members import selectors
from portal import display


def wallet_figures() -> dict[str, str]:
    """The wallet's balance, held, available and refundable amounts as the portal
    shows them: credits with thousands separators."""
    return {name: display.amount(v) for name, v in selectors.wallet_summary().items()}


def wallet_amounts(txn_ids: list[int]) -> dict[int, int]:
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
        Account.objects.filter(kind=Account.Kind.WALLET)
        .annotate(newest=Subquery(newest))
        .values_list("pk", "balance", "newest")
        .first()
    )
    if row is None:
        return wallet_account_id(), 0, 0
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
