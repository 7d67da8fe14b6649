"""The volume-tier prices of design.md ("Money") and the valuation of cash refunds."""

import pytest

from billing import pricing


@pytest.mark.parametrize(
    ("credits", "total_cents", "unit"),
    [
        (1, 100, 100),
        (500, 50_000, 100),
        (501, 45_090, 90),
        (1_000, 90_000, 90),
        (1_001, 80_080, 80),
        (1_500, 120_000, 80),
        (1_501, 105_070, 70),
        (2_000, 140_000, 70),
        (2_001, 120_060, 60),
        (2_500, 150_000, 60),
        (2_501, 125_050, 50),
    ],
)
def test_volume_tier_prices(credits, total_cents, unit):
    quote = pricing.quote(credits)
    assert (quote.total_cents, quote.unit_price_cents) == (total_cents, unit)


def test_refund_is_valued_at_lot_cost_minus_10_percent_newest_lots_first():
    # given: 500 credits at 1.00, then 1,000 at 0.90, and a wallet still holding 1,200
    lots = [(1, 50_000, 100), (2, 100_000, 90)]
    # when: 1,100 credits are refunded
    valuation = pricing.value_refund(amount=110_000, lots=lots, wallet_balance=120_000)
    # then: 1,000 come from the 0.90 lot and 100 from the 1.00 lot
    assert [(s.lot_id, s.credits_hundredths) for s in valuation.slices] == [
        (2, 100_000),
        (1, 10_000),
    ]
    assert valuation.gross_cents == 90_000 + 10_000
    assert valuation.fee_cents == 10_000
    assert valuation.net_cents == 90_000


def test_credits_not_explained_by_purchases_are_not_refundable():
    with pytest.raises(ValueError):
        pricing.value_refund(
            amount=20_000, lots=[(1, 10_000, 100)], wallet_balance=50_000
        )
