"""Reads of the credit ledger. Nothing here writes: an organisation that has never
posted has no wallet row yet, and reads see a balance of zero, not a row created for
them (billing.services.ledger creates the system accounts when it first posts)."""

from django.db.models import Sum

from billing.models import Account, CreditLot, LotRefund
from billing.money import credits_to_hundredths


def _wallet(field: str):
    """One column of the wallet's row; None when there is no wallet yet."""
    return (
        Account.objects.filter(kind=Account.Kind.WALLET)
        .values_list(field, flat=True)
        .first()
    )


def wallet_balance() -> int:
    """The wallet's balance in hundredths of a credit."""
    return _wallet("balance") or 0


def wallet_account_id() -> int | None:
    return _wallet("id")


def wallet_holds() -> int:
    """Hundredths reserved by operations still in flight against the upstream (the
    wallet's `held`)."""
    return _wallet("held") or 0


def lots_unrefunded() -> list[tuple[int, int, int]]:
    """(lot id, hundredths not yet refunded, unit price in cents) of every credit lot,
    oldest first: what a cash refund may draw on."""
    lots = CreditLot.objects.order_by("id").values_list(
        "id", "credits", "unit_price_cents"
    )
    refunded = dict(
        LotRefund.objects.values("lot_id")
        .annotate(s=Sum("amount"))
        .values_list("lot_id", "s")
    )
    return [
        (lid, credits_to_hundredths(credits) - refunded.get(lid, 0), price)
        for lid, credits, price in lots
    ]
