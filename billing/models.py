"""The credit ledger: accounts, append-only double-entry transactions, credit lots and
cash refunds.

Money is integers in hundredths of a credit everywhere (fields named `amount`,
`balance`); US cents where a field says `_cents`. The tables kept the names they had
when these models lived in `members` (`members_account`, ...): the PostgreSQL triggers
of members migration 0002 are written against those names.
"""

from django.db import models
from django.db.models import F, Q

from members.models import Member, Operation


class Account(models.Model):
    class Kind(models.TextChoices):
        WALLET = "wallet", "organization wallet"
        MEMBER = "member", "member terms"
        PURCHASES = "purchases", "credit purchases"
        REFUNDS = "refunds", "cash refunds"
        ADJUSTMENTS = "adjustments", "manual adjustments"

    code = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    member = models.OneToOneField(
        Member, on_delete=models.PROTECT, null=True, related_name="account"
    )
    # Sum of this account's entries, kept in step with every posting (on PostgreSQL by a
    # trigger). ledgercheck verifies it.
    balance = models.BigIntegerField(default=0)
    # The wallet only: hundredths reserved by operations in flight against upstream (the
    # sum of their `Operation.hold`), kept by `billing.services.ledger.wallet_hold` and
    # `wallet_release`. The database refuses a hold beyond the balance.
    held = models.BigIntegerField(default=0)

    class Meta:
        db_table = "members_account"
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="wallet") | Q(balance__gte=0),
                name="wallet_never_negative",
            ),
            models.CheckConstraint(
                condition=Q(held=0) | (Q(held__gt=0) & Q(balance__gte=F("held"))),
                name="wallet_holds_covered",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("the ledger is append-only: post a reversal instead")

    def delete(self):
        raise PermissionError("the ledger is append-only: post a reversal instead")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("the ledger is append-only: post a reversal instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the ledger is append-only: post a reversal instead")


class LedgerTransaction(AppendOnlyModel):
    class Kind(models.TextChoices):
        PURCHASE = "purchase"
        MEMBER_CREATE = "member_create"
        MEMBER_CHANGE = "member_change"
        MEMBER_RENEW = "member_renew"
        MEMBER_CANCEL = "member_cancel"
        MEMBER_DELETE = "member_delete"
        REFUND = "refund"
        ADJUSTMENT = "adjustment"
        REVERSAL = "reversal"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    memo = models.CharField(max_length=300)
    actor = models.CharField(max_length=150)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, null=True, related_name="ledger_transactions"
    )
    operation = models.OneToOneField(
        Operation,
        on_delete=models.PROTECT,
        null=True,
        related_name="ledger_transaction",
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, related_name="reversed_by"
    )
    created_at = models.DateTimeField()

    class Meta:
        db_table = "members_ledgertransaction"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["kind", "id"]),
            models.Index(fields=["member", "id"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class LedgerEntry(AppendOnlyModel):
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries"
    )
    amount = models.BigIntegerField(
        help_text="hundredths of a credit; signed, never zero"
    )

    class Meta:
        db_table = "members_ledgerentry"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="entry_nonzero")
        ]
        indexes = [models.Index(fields=["account", "id"])]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount}"


class CreditLot(AppendOnlyModel):
    """Credits bought in one purchase, at the volume-tier price of that purchase."""

    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="lot"
    )
    credits = models.PositiveIntegerField(help_text="whole credits bought")
    unit_price_cents = models.PositiveIntegerField()
    total_cents = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "members_creditlot"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.credits} credits at {self.unit_price_cents}¢"


class CashRefund(AppendOnlyModel):
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="cash_refund"
    )
    amount = models.BigIntegerField(help_text="hundredths of a credit refunded")
    gross_cents = models.BigIntegerField(help_text="what the refunded credits cost")
    fee_cents = models.BigIntegerField()
    net_cents = models.BigIntegerField(help_text="paid out: gross minus the fee")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "members_cashrefund"

    def __str__(self) -> str:
        return f"refund of {self.amount} hundredths"


class LotRefund(AppendOnlyModel):
    lot = models.ForeignKey(CreditLot, on_delete=models.PROTECT, related_name="refunds")
    refund = models.ForeignKey(
        CashRefund, on_delete=models.PROTECT, related_name="slices"
    )
    amount = models.BigIntegerField(
        help_text="hundredths of a credit taken from the lot"
    )

    class Meta:
        db_table = "members_lotrefund"

    def __str__(self) -> str:
        return f"lot {self.lot_id}: {self.amount}"
