"""The credit ledger: append-only double entry in hundredths of a credit.

Every money operation is one database transaction that posts one LedgerTransaction whose
entries sum to zero. The wallet row is every money operation's shared lock, so it is
taken last, by the money statements alone, and held only until commit: a member
operation locks its member and operation rows first (`members.services.operations`),
then holds, releases or posts on the wallet as its transaction's final statements.
One lock order everywhere (member, operation, wallet): concurrent operations queue
instead of deadlocking.

Holds: an operation in flight reserves its charge with one conditional UPDATE of the
wallet's `held` (`wallet_hold`), refused when the balance minus what is held cannot
cover it; the database's CHECK constraint refuses the same, as it refuses a negative
balance.
"""

import time

from django.db import DataError, IntegrityError, connection, transaction
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
from billing.services import wallet_sql
from members.errors import Conflict, InsufficientCredits, ValidationFailed
from members.models import Member, Operation
from members.selectors import row_or_not_found
from members.services.audit import audit_record
from orgportal import clock, lastcommit
from orgportal.metrics import LEDGER_OPERATIONS, WALLET_LOCK_SECONDS

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


def account_for_member(member: Member, *, new: bool = False) -> Account:
    """The member's account (its id read with the member where it was: `account_pk`,
    members.services.operations.state.member_lock); `new`: the member was created in
    this transaction, so its account is too. Only a settle (holding the member's row
    lock) creates one, so no other transaction can create it meanwhile."""
    if not new and "account_pk" in member.__dict__:
        if member.account_pk is not None:  # what a posting needs of it: its id
            return Account(
                pk=member.account_pk,
                code=f"member:{member.pk}",
                kind=Account.Kind.MEMBER,
                member=member,
            )
    elif not new:
        try:
            return member.account
        except Account.DoesNotExist:
            pass
    return Account.objects.create(
        code=f"member:{member.pk}", kind=Account.Kind.MEMBER, member=member
    )


def _wallet_lock_timed() -> None:
    """Start timing this transaction's hold on the wallet row (its first wallet
    statement) up to its commit, once per transaction."""
    conn = transaction.get_connection()
    hooks = conn.run_on_commit  # a new list every transaction
    if getattr(conn, "_wallet_lock_hooks", None) is hooks:
        return
    conn._wallet_lock_hooks = hooks
    started = time.perf_counter()
    transaction.on_commit(
        lambda: WALLET_LOCK_SECONDS.observe(time.perf_counter() - started)
    )


def wallet_lock() -> Account:
    """Lock the wallet row for the rest of the transaction, for money operations that
    must read the balance before they post (purchases, refunds, adjustments,
    reversals)."""
    _wallet_lock_timed()
    wallet = Account.objects.select_for_update().filter(code=WALLET).first()
    if wallet is None:
        account_system(WALLET)
        wallet = Account.objects.select_for_update().get(code=WALLET)
    return wallet


def wallet_available(wallet: Account) -> int:
    return wallet.balance - wallet.held


def _insufficient(amount: int, available: int) -> InsufficientCredits:
    return InsufficientCredits(
        f"Not enough credits: this needs {format_amount(amount)} and the wallet has "
        f"{format_amount(available)} available. Buy credits first.",
        details={
            "required": format_amount(amount),
            "available": format_amount(available),
        },
    )


def require_available(wallet: Account, amount: int) -> None:
    available = wallet_available(wallet)
    if amount > available:
        raise _insufficient(amount, available)


def _wallet_update(change: int, *, covered: bool) -> tuple[int, int, int] | None:
    """`held += change` on the wallet, with `covered`: only if the balance still covers
    it. One statement; (id, balance, held) after it, or None if nothing was updated."""
    table = connection.ops.quote_name(Account._meta.db_table)
    condition = " AND balance - held >= %s" if covered else ""
    params = [change, WALLET] + ([change] if covered else [])
    _wallet_lock_timed()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET held = held + %s WHERE code = %s{condition} "  # noqa: S608 - table name from the model
            "RETURNING id, balance, held",
            params,
        )
        return cursor.fetchone()


def _wallet_statement(sql: str, params) -> list[tuple]:
    """A member operation's wallet statement, the last of its transaction (PostgreSQL):
    sent with the COMMIT in one round trip where it can be (`orgportal.lastcommit`), so
    the wallet's row lock lasts only as long as PostgreSQL takes to run both; else run
    in the block, which commits it. Its hold on the wallet row timed either way."""
    if lastcommit.can_commit_here():
        started = time.perf_counter()
        rows = lastcommit.execute_then_commit(sql, params)
        WALLET_LOCK_SECONDS.observe(time.perf_counter() - started)
        return rows
    _wallet_lock_timed()
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def wallet_hold(amount: int) -> None:
    """Reserve `amount` hundredths for an operation in flight: one conditional UPDATE,
    refused (402) when the balance minus what is already held cannot cover it. Its row
    lock lasts until commit: call it as the transaction's last statement. Sent with the
    COMMIT (`_wallet_statement`), the statement fails when not covered, so nothing
    commits; inside another transaction, which a failed statement would abort, the
    UPDATE alone refuses by updating nothing."""
    if amount <= 0:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("a hold must be taken inside transaction.atomic()")
    if lastcommit.can_commit_here():
        try:
            _wallet_statement(
                wallet_sql.hold_sql(), {"amount": amount, "wallet": WALLET}
            )
        except DataError:  # not covered: nothing was committed
            lastcommit.abandon()
        else:
            return
    elif _wallet_update(amount, covered=True) is not None:
        return
    balance, held = selectors.wallet_balance(), selectors.wallet_holds()
    raise _insufficient(amount, balance - held)


def wallet_release(amount: int) -> Account:
    """Release what an operation held (settled or failed; 0 for one that held nothing)
    and return the wallet to post against. Same placement as `wallet_hold`: its row
    lock lasts until commit."""
    row = _wallet_update(-amount, covered=False)
    if row is None:  # no wallet yet: nothing was ever held or bought
        account_system(WALLET)
        row = _wallet_update(-amount, covered=False)
    wallet_id, balance, held = row
    return Account(
        pk=wallet_id, code=WALLET, kind=Account.Kind.WALLET, balance=balance, held=held
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
    """Post one balanced transaction, inside `transaction.atomic()`, as one of its last
    statements (the wallet's row is locked from here to commit). Refuses an unbalanced
    or empty posting and a wallet below what it holds."""
    if not connection.in_atomic_block:
        raise RuntimeError("ledger postings must run inside transaction.atomic()")
    entries = [(account, amount) for account, amount in entries if amount != 0]
    if not entries:
        raise ValueError("a ledger transaction needs at least one non-zero entry")
    if sum(amount for _, amount in entries) != 0:
        raise ValueError("a ledger transaction's entries must sum to zero")
    _wallet_lock_timed()
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
        # No savepoint: a refusal fails the whole transaction, which is what it means.
        with transaction.atomic(savepoint=False):
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
        if any(
            name in str(exc)
            for name in (
                "wallet_never_negative",
                "wallet_holds_covered",
                "CHECK constraint failed",
            )
        ):
            raise InsufficientCredits("Not enough credits in the wallet") from exc
        raise
    # The Account objects passed in now hold stale balances; read them again if needed.
    transaction.on_commit(lambda: LEDGER_OPERATIONS.labels(kind).inc())
    return txn


# On PostgreSQL a settled operation's money is one statement (billing.services
# .wallet_sql): release the hold, post the transaction and its two entries (the entries'
# trigger moves the balances, the deferred trigger checks the sum at commit), sent with
# the COMMIT (`_wallet_statement`).
def operation_money_settle(
    *,
    hold: int,
    amount: int,
    member_account: Account | None,
    kind: str,
    memo: str,
    actor: str,
    member: Member,
    operation: Operation,
) -> int | None:
    """A settled member operation's money, as its transaction's last statements:
    release the `hold` and post `amount` (positive: charged from the wallet to the
    member; negative: credited back). The ledger transaction's id, None for an amount
    of 0."""
    if connection.vendor != "postgresql":
        wallet = wallet_release(hold)
        if amount == 0:
            return None
        return transaction_post(
            kind=kind,
            memo=memo,
            actor=actor,
            entries=[(wallet, -amount), (member_account, amount)],
            member=member,
            operation=operation,
        ).pk
    if not connection.in_atomic_block:
        raise RuntimeError("ledger postings must run inside transaction.atomic()")
    params = {
        "hold": hold,
        "wallet": WALLET,
        "kind": kind,
        "memo": memo[:300],
        "actor": actor,
        "member": member.pk,
        "operation": operation.pk,
        "at": clock.now(),
        "amount": amount,
        "member_account": member_account.pk if member_account else None,
    }
    try:
        rows = _wallet_statement(wallet_sql.settle_sql(), params)
    except IntegrityError as exc:
        if "wallet_never_negative" in str(exc) or "wallet_holds_covered" in str(exc):
            raise InsufficientCredits("Not enough credits in the wallet") from exc
        raise
    if not rows:
        return None
    transaction.on_commit(lambda: LEDGER_OPERATIONS.labels(kind).inc())
    return rows[0][0]


def _credits_checked(credits) -> None:
    if not isinstance(credits, int) or isinstance(credits, bool) or credits < 1:
        raise ValidationFailed(
            "credits must be a whole number of at least 1",
            details={"credits": ["must be a whole number of at least 1"]},
        )


def _post_audited(*, action: str, after: dict, **posting) -> LedgerTransaction:
    """`transaction_post(**posting)` with its audit row (`action`, `after`)."""
    txn = transaction_post(**posting)
    audit_record(
        actor=posting["actor"],
        action=action,
        obj=("ledger_transaction", txn.pk),
        after=after,
    )
    return txn


def credits_purchase(*, credits: int, actor: str) -> CreditLot:
    """Record credits bought, priced by volume tier on the quantity, as one lot."""
    _credits_checked(credits)
    if credits > pricing.MAX_PURCHASE_CREDITS:
        raise ValidationFailed(
            f"credits must be at most {pricing.MAX_PURCHASE_CREDITS:,} in one purchase",
            details={"credits": [f"at most {pricing.MAX_PURCHASE_CREDITS}"]},
        )
    q = pricing.quote(credits)
    amount = credits_to_hundredths(credits)
    with transaction.atomic():
        wallet = wallet_lock()
        txn = _post_audited(
            action="credits.purchase",
            after={"credits": credits, "total_usd": format_amount(q.total_cents)},
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
    return lot


def refund_quote(
    *, credits: int, wallet: Account | None = None
) -> pricing.RefundValuation:
    available = (
        wallet_available(wallet)
        if wallet is not None
        else selectors.wallet_balance() - selectors.wallet_holds()
    )
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
    _credits_checked(credits)
    with transaction.atomic():
        wallet = wallet_lock()
        valuation = refund_quote(credits=credits, wallet=wallet)
        amount = credits_to_hundredths(credits)
        txn = _post_audited(
            action="credits.refund",
            after={"credits": credits, "net_usd": format_amount(valuation.net_cents)},
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
        return _post_audited(
            action="ledger.adjust",
            after={"amount": format_amount(amount), "reason": reason},
            kind=LedgerTransaction.Kind.ADJUSTMENT,
            memo=f"Adjustment: {reason}",
            actor=actor,
            entries=[(wallet, amount), (account_system(ADJUSTMENTS), -amount)],
        )


def transaction_reverse(
    *, transaction_id: int, reason: str, actor: str
) -> LedgerTransaction:
    """Fix a mistake the only way an append-only ledger allows: post its mirror image."""
    with transaction.atomic():
        wallet = wallet_lock()
        original = row_or_not_found(
            LedgerTransaction.objects,
            transaction_id,
            noun="ledger transaction",
            code="TRANSACTION_NOT_FOUND",
            key="transaction_id",
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
        return _post_audited(
            action="ledger.reverse",
            after={"reverses": original.pk, "reason": reason},
            kind=LedgerTransaction.Kind.REVERSAL,
            memo=f"Reversal of #{original.pk}: {reason}",
            actor=actor,
            entries=entries,
            reverses=original,
        )
