"""Every invariant of the ledger, checked from the rows themselves. Reads only."""

from django.db.models import Count, Sum

from billing.models import Account, LedgerEntry, LedgerTransaction
from billing.money import format_amount
from members.models import MemberTerm, Operation


def ledger_violations() -> list[str]:
    problems: list[str] = []

    unbalanced = (
        LedgerEntry.objects.values("transaction_id")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("transaction_id")
    )
    for row in unbalanced:
        problems.append(
            f"transaction #{row['transaction_id']} does not balance: its entries sum to "
            f"{format_amount(row['total'])}"
        )
    empty = LedgerTransaction.objects.annotate(n=Count("entries")).filter(n=0)
    for txn_id in empty.values_list("id", flat=True):
        problems.append(f"transaction #{txn_id} has no entries")

    sums = dict(
        LedgerEntry.objects.values("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    for account in Account.objects.order_by("id"):
        expected = sums.get(account.pk, 0)
        if account.balance != expected:
            problems.append(
                f"account {account.code} shows a balance of {format_amount(account.balance)} "
                f"but its entries sum to {format_amount(expected)}"
            )
        if account.kind == Account.Kind.WALLET and expected < 0:
            problems.append(f"the wallet is negative: {format_amount(expected)}")
        if account.kind == Account.Kind.WALLET:
            holding = (
                Operation.objects.filter(status__in=Operation.IN_FLIGHT).aggregate(
                    s=Sum("hold")
                )["s"]
                or 0
            )
            if account.held != holding:
                problems.append(
                    f"the wallet holds {format_amount(account.held)} but the operations "
                    f"in flight hold {format_amount(holding)}"
                )
        elif account.held:
            problems.append(
                f"account {account.code} holds credits; only the wallet may"
            )

    previous: dict[int, MemberTerm] = {}
    for term in MemberTerm.objects.select_related("member").order_by(
        "member_id", "start", "id"
    ):
        if term.effective_end <= term.start:
            continue  # a renewal paid ahead and voided before it began
        last = previous.get(term.member_id)
        if last is not None and term.start < last.effective_end:
            problems.append(
                f"member {term.member.uid} has overlapping paid terms: #{last.pk} "
                f"({last.start:%Y-%m-%d %H:%M}–{last.effective_end:%Y-%m-%d %H:%M}) and #{term.pk} "
                f"(from {term.start:%Y-%m-%d %H:%M})"
            )
        if last is None or term.effective_end > last.effective_end:
            previous[term.member_id] = term

    settled = Operation.objects.filter(status=Operation.Status.SUCCEEDED).exclude(
        amount=0
    )
    for op in settled.filter(ledger_transaction__isnull=True).values_list(
        "id", flat=True
    ):
        problems.append(f"operation #{op} succeeded but posted no ledger transaction")
    failed = Operation.objects.exclude(status=Operation.Status.SUCCEEDED)
    for op in failed.filter(ledger_transaction__isnull=False).values_list(
        "id", flat=True
    ):
        problems.append(f"operation #{op} did not succeed but has a ledger transaction")
    return problems
