"""The credit ledger: append-only double entry in hundredths of a credit.

Every money operation is one database transaction that posts one LedgerTransaction whose
entries sum to zero. Locks are always taken in the same order: the wallet account first,
then the member, then the operation, so concurrent operations queue instead of deadlocking.
"""

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from billing import pricing, selectors
from billing.models import (
    Account,
    CashRefund,
    CreditLot,
    LedgerEntry,
    LedgerTransaction,
    LotRefund,
)
from billing.money import credits_to_hundredths, format_amount
from members.errors import Conflict, InsufficientCredits, NotFound, ValidationFailed
from members.models import Member, Operation
from members.services.audit import audit_record
from orgportal import clock
from orgportal.metrics import LEDGER_OPERATIONS

WALLET = "wallet"
PURCHASES = "external:purchases"
REFUNDS = "external:cash_refunds"
ADJUSTMENTS = "equity:adjustments"
_SYSTEM = {
    WALLET: Account.Kind.WALLET,
    PURCHASES: Account.Kind.PURCHASES,
    REFUNDS: Account.Kind.REFUNDS,
    ADJUSTMENTS: Account.Kind.ADJUSTMENTS,
}
MAX_ADJUSTMENT = 100_000_000 * 100 - 1  # hundredths; a typo guard, not a business limit


def account_system(code: str) -> Account:
    account, _ = Account.objects.get_or_create(
        code=code, defaults={"kind": _SYSTEM[code]}
    )
    return account


def account_for_member(member: Member) -> Account:
    account, _ = Account.objects.get_or_create(
        code=f"member:{member.pk}",
        defaults={"kind": Account.Kind.MEMBER, "member": member},
    )
    return account


def wallet_lock() -> Account:
    """Lock the wallet row for the rest of the transaction: the first lock of every money
    operation."""
    wallet = Account.objects.select_for_update().filter(code=WALLET).first()
    if wallet is None:
        account_system(WALLET)
        wallet = Account.objects.select_for_update().get(code=WALLET)
    return wallet


def wallet_available(wallet: Account) -> int:
    return wallet.balance - selectors.wallet_holds()


def require_available(wallet: Account, amount: int) -> None:
    available = wallet_available(wallet)
    if amount > available:
        raise InsufficientCredits(
            f"Not enough credits: this needs {format_amount(amount)} and the wallet has "
            f"{format_amount(available)} available. Buy credits first.",
            details={
                "required": format_amount(amount),
                "available": format_amount(available),
            },
        )


def transaction_post(
    *,
    kind: str,
    memo: str,
    actor: str,
    entries: list[tuple[Account, int]],
    member: Member | None = None,
    operation: Operation | None = None,
    reverses: LedgerTransaction | None = None,
) -> LedgerTransaction:
    """Post one balanced transaction. Call inside `transaction.atomic()` holding the wallet
    lock. Refuses an unbalanced or empty posting and a negative wallet."""
    if not connection.in_atomic_block:
        raise RuntimeError("ledger postings must run inside transaction.atomic()")
    entries = [(account, amount) for account, amount in entries if amount != 0]
    if not entries:
        raise ValueError("a ledger transaction needs at least one non-zero entry")
    if sum(amount for _, amount in entries) != 0:
        raise ValueError("a ledger transaction's entries must sum to zero")
    txn = LedgerTransaction.objects.create(
        kind=kind,
        memo=memo[:300],
        actor=actor,
        member=member,
        operation=operation,
        reverses=reverses,
        created_at=clock.now(),
    )
    try:
        with transaction.atomic():
            LedgerEntry.objects.bulk_create(
                [
                    LedgerEntry(transaction=txn, account=a, amount=amt)
                    for a, amt in entries
                ]
            )
            if connection.vendor != "postgresql":
                # PostgreSQL keeps balances with a trigger (members migration 0002).
                for account, amount in entries:
                    Account.objects.filter(pk=account.pk).update(
                        balance=F("balance") + amount
                    )
    except IntegrityError as exc:
        if "wallet_never_negative" in str(exc) or "CHECK constraint failed" in str(exc):
            raise InsufficientCredits("Not enough credits in the wallet") from exc
        raise
    # The Account objects passed in now hold stale balances; read them again if needed.
    transaction.on_commit(lambda: LEDGER_OPERATIONS.labels(kind).inc())
    return txn


def credits_purchase(*, credits: int, actor: str) -> CreditLot:
    """Record credits bought, priced by volume tier on the quantity, as one lot."""
    if not isinstance(credits, int) or isinstance(credits, bool) or credits < 1:
        raise ValidationFailed(
            "credits must be a whole number of at least 1",
            details={"credits": ["must be a whole number of at least 1"]},
        )
    if credits > pricing.MAX_PURCHASE_CREDITS:
        raise ValidationFailed(
            f"credits must be at most {pricing.MAX_PURCHASE_CREDITS:,} in one purchase",
            details={"credits": [f"at most {pricing.MAX_PURCHASE_CREDITS}"]},
        )
    q = pricing.quote(credits)
    amount = credits_to_hundredths(credits)
    with transaction.atomic():
        wallet = wallet_lock()
        txn = transaction_post(
            kind=LedgerTransaction.Kind.PURCHASE,
            memo=f"Bought {credits:,} credits at {format_amount(q.unit_price_cents)} USD",
            actor=actor,
            entries=[(wallet, amount), (account_system(PURCHASES), -amount)],
        )
        lot = CreditLot.objects.create(
            transaction=txn,
            credits=credits,
            unit_price_cents=q.unit_price_cents,
            total_cents=q.total_cents,
            created_at=txn.created_at,
        )
        audit_record(
            actor=actor,
            action="credits.purchase",
            obj=("ledger_transaction", txn.pk),
            after={"credits": credits, "total_usd": format_amount(q.total_cents)},
        )
    return lot


def refund_quote(
    *, credits: int, wallet: Account | None = None
) -> pricing.RefundValuation:
    wallet = wallet or account_system(WALLET)
    available = wallet_available(wallet)
    lots = selectors.lots_unrefunded()
    refundable = pricing.refundable_amount(lots=lots, wallet_balance=available)
    amount = credits_to_hundredths(credits)
    if amount > refundable:
        raise InsufficientCredits(
            f"Only {format_amount(refundable)} credits can be refunded for cash "
            "(credits in the wallet that were bought and are not reserved).",
            code="NOT_REFUNDABLE",
            status=409,
            details={"refundable": format_amount(refundable)},
        )
    return pricing.value_refund(amount=amount, lots=lots, wallet_balance=available)


def credits_refund(*, credits: int, actor: str) -> CashRefund:
    """Return credits for cash: valued at what they cost, minus the 10% fee."""
    if not isinstance(credits, int) or isinstance(credits, bool) or credits < 1:
        raise ValidationFailed(
            "credits must be a whole number of at least 1",
            details={"credits": ["must be a whole number of at least 1"]},
        )
    with transaction.atomic():
        wallet = wallet_lock()
        valuation = refund_quote(credits=credits, wallet=wallet)
        amount = credits_to_hundredths(credits)
        txn = transaction_post(
            kind=LedgerTransaction.Kind.REFUND,
            memo=f"Cash refund of {credits:,} credits: {format_amount(valuation.net_cents)} USD "
            f"after a {format_amount(valuation.fee_cents)} USD fee",
            actor=actor,
            entries=[(wallet, -amount), (account_system(REFUNDS), amount)],
        )
        refund = CashRefund.objects.create(
            transaction=txn,
            amount=amount,
            gross_cents=valuation.gross_cents,
            fee_cents=valuation.fee_cents,
            net_cents=valuation.net_cents,
            created_at=txn.created_at,
        )
        LotRefund.objects.bulk_create(
            [
                LotRefund(lot_id=s.lot_id, refund=refund, amount=s.credits_hundredths)
                for s in valuation.slices
            ]
        )
        audit_record(
            actor=actor,
            action="credits.refund",
            obj=("ledger_transaction", txn.pk),
            after={"credits": credits, "net_usd": format_amount(valuation.net_cents)},
        )
    return refund


def ledger_adjust(*, amount: int, reason: str, actor: str) -> LedgerTransaction:
    """A manual correction of the wallet, with a reason. Positive grants credits."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "An adjustment needs a reason",
            details={"reason": ["This field is required."]},
        )
    if amount == 0 or abs(amount) > MAX_ADJUSTMENT:
        raise ValidationFailed(
            "amount must be non-zero and below 100,000,000.00 either way",
            details={"amount": ["must be non-zero"]},
        )
    with transaction.atomic():
        wallet = wallet_lock()
        if amount < 0:
            require_available(wallet, -amount)
        txn = transaction_post(
            kind=LedgerTransaction.Kind.ADJUSTMENT,
            memo=f"Adjustment: {reason}",
            actor=actor,
            entries=[(wallet, amount), (account_system(ADJUSTMENTS), -amount)],
        )
        audit_record(
            actor=actor,
            action="ledger.adjust",
            obj=("ledger_transaction", txn.pk),
            after={"amount": format_amount(amount), "reason": reason},
        )
    return txn


def transaction_reverse(
    *, transaction_id: int, reason: str, actor: str
) -> LedgerTransaction:
    """Fix a mistake the only way an append-only ledger allows: post its mirror image."""
    with transaction.atomic():
        wallet = wallet_lock()
        original = LedgerTransaction.objects.filter(pk=transaction_id).first()
        if original is None:
            raise NotFound(
                f"No ledger transaction {transaction_id}",
                code="TRANSACTION_NOT_FOUND",
                details={"transaction_id": transaction_id},
            )
        if original.kind != LedgerTransaction.Kind.ADJUSTMENT:
            raise Conflict(
                "Only manual adjustments can be reversed by hand; member charges, "
                "purchases and refunds follow their own operations",
                code="NOT_REVERSIBLE",
                details={"transaction_id": transaction_id, "kind": original.kind},
            )
        if LedgerTransaction.objects.filter(reverses=original).exists():
            raise Conflict(
                f"Ledger transaction {transaction_id} was already reversed",
                code="ALREADY_REVERSED",
                details={"transaction_id": transaction_id},
            )
        entries = [
            (e.account, -e.amount) for e in original.entries.select_related("account")
        ]
        wallet_delta = sum(a for acc, a in entries if acc.pk == wallet.pk)
        if wallet_delta < 0:
            require_available(wallet, -wallet_delta)
        txn = transaction_post(
            kind=LedgerTransaction.Kind.REVERSAL,
            memo=f"Reversal of #{original.pk}: {reason}",
            actor=actor,
            entries=entries,
            reverses=original,
        )
        audit_record(
            actor=actor,
            action="ledger.reverse",
            obj=("ledger_transaction", txn.pk),
            after={"reverses": original.pk, "reason": reason},
        )
    return txn
