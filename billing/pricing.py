"""Credit purchase pricing and refund valuation (design.md, "Money"). Pure functions.

Prices are in US cents; credit quantities are whole credits.
"""

from dataclasses import dataclass

from billing.money import percent_of, prorate

# (lowest quantity of the tier, price per credit in US cents). The tier is chosen by the
# total quantity purchased and applies to every credit of that purchase.
VOLUME_TIERS: list[tuple[int, int]] = [
    (1, 100),
    (501, 90),
    (1_001, 80),
    (1_501, 70),
    (2_001, 60),
    (2_501, 50),
]
REFUND_FEE_PERCENT = 10
MAX_PURCHASE_CREDITS = 1_000_000


@dataclass(frozen=True)
class Quote:
    credits: int
    unit_price_cents: int
    total_cents: int


def unit_price_cents(credits: int) -> int:
    if credits < 1:
        raise ValueError("a purchase is at least 1 credit")
    price = VOLUME_TIERS[0][1]
    for lowest, tier_price in VOLUME_TIERS:
        if credits >= lowest:
            price = tier_price
    return price


def quote(credits: int) -> Quote:
    unit = unit_price_cents(credits)
    return Quote(credits=credits, unit_price_cents=unit, total_cents=credits * unit)


@dataclass(frozen=True)
class LotSlice:
    lot_id: int
    credits_hundredths: int  # hundredths of a credit taken from the lot
    unit_price_cents: int

    @property
    def cost_cents(self) -> int:
        # hundredths of a credit × cents per credit / 100 → cents; exact for whole
        # credits; fractions of a credit are valued by the single rounding below.
        return self.credits_hundredths * self.unit_price_cents


@dataclass(frozen=True)
class RefundValuation:
    slices: list[LotSlice]
    gross_cents: int
    fee_cents: int
    net_cents: int


def value_refund(
    *, amount: int, lots: list[tuple[int, int, int]], wallet_balance: int
) -> RefundValuation:
    """Value a cash refund of `amount` hundredths of a credit.

    `lots` are (lot_id, unrefunded hundredths, unit price in cents), oldest first. The
    credits still in the wallet are the most recently purchased ones (spending draws on
    the oldest lots first), so a refund takes from the newest lots that are still in the
    wallet. Credits beyond what purchases explain (manual grants) have no cash value and
    cannot be refunded.
    """
    if amount <= 0:
        raise ValueError("a refund is a positive amount")
    # Which lot credits are still in the wallet: walk newest first until the balance
    # is covered.
    in_wallet: list[tuple[int, int, int]] = []
    left = wallet_balance
    for lot_id, unrefunded, price in reversed(lots):
        if left <= 0:
            break
        take = min(unrefunded, left)
        if take > 0:
            in_wallet.append((lot_id, take, price))
            left -= take
    refundable = sum(t for _, t, _ in in_wallet)
    if amount > refundable:
        raise ValueError(f"only {refundable} hundredths are refundable")
    slices: list[LotSlice] = []
    need = amount
    for lot_id, available, price in in_wallet:  # newest first
        if need == 0:
            break
        take = min(available, need)
        slices.append(LotSlice(lot_id, take, price))
        need -= take
    gross_exact = sum(s.cost_cents for s in slices)  # in cents × 100
    gross = prorate(amount=gross_exact, numerator=1, denominator=100)
    fee = percent_of(amount=gross, percent=REFUND_FEE_PERCENT)
    return RefundValuation(
        slices=slices, gross_cents=gross, fee_cents=fee, net_cents=gross - fee
    )


def refundable_amount(*, lots: list[tuple[int, int, int]], wallet_balance: int) -> int:
    total = sum(unrefunded for _, unrefunded, _ in lots)
    return max(0, min(total, wallet_balance))
