"""The proration and pricing vectors of design.md ("Money"), and rounding properties."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from members import money, pricing, proration

P, U, M = 1500, 2500, 5000  # pro, ultra, mega: hundredths of a credit
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TERM = proration.PaidTerm(price=P, start=START, end=START + proration.TERM)


def test_upgrade_pro_to_ultra_at_half_the_term_charges_5():
    at = START + proration.TERM / 2
    assert proration.change_charge([TERM], new_price=U, at=at) == 500


def test_downgrade_ultra_to_pro_at_half_credits_5():
    ultra = proration.PaidTerm(price=U, start=START, end=START + proration.TERM)
    assert (
        proration.change_charge([ultra], new_price=P, at=START + proration.TERM / 2)
        == -500
    )


def test_cancel_pro_with_20_of_30_days_left_credits_10():
    assert proration.unused_value([TERM], START + dt.timedelta(days=10)) == 1000


def test_pro_to_mega_with_10_of_30_days_left_charges_11_67():
    at = START + dt.timedelta(days=20)
    assert proration.change_charge([TERM], new_price=M, at=at) == 1167


def test_renew_before_expiry_starts_at_the_old_end():
    at = START + dt.timedelta(days=25)
    assert proration.renewal_period([TERM], at=at) == (
        TERM.end,
        TERM.end + proration.TERM,
    )


def test_renew_after_expiry_starts_now():
    at = START + dt.timedelta(days=31)
    assert proration.renewal_period([TERM], at=at) == (at, at + proration.TERM)


def test_no_running_term_buys_the_plan_whole():
    assert proration.change_charge([], new_price=P, at=START) == P
    expired_at = START + dt.timedelta(days=40)
    assert proration.change_charge([TERM], new_price=U, at=expired_at) == U


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


def test_amounts_format_and_parse_exactly():
    assert money.format_amount(98_500) == "985.00"
    assert money.format_amount(-5) == "-0.05"
    assert money.parse_amount("985.00") == 98_500
    assert money.parse_amount("0.5") == 50
    for bad in ("1.005", "1e3", "", "abc", 1.5, None, True):
        with pytest.raises(money.AmountError):
            money.parse_amount(bad)


def test_rounding_is_half_to_even_once():
    assert money.prorate(amount=1, numerator=1, denominator=2) == 0  # 0.5 → 0
    assert money.prorate(amount=3, numerator=1, denominator=2) == 2  # 1.5 → 2
    assert money.prorate(amount=-3, numerator=1, denominator=2) == -2


@given(
    price=st.integers(min_value=0, max_value=10_000_00),
    elapsed=st.integers(min_value=0, max_value=proration.TERM_SECONDS),
)
def test_a_cancel_never_credits_more_than_was_paid(price, elapsed):
    term = proration.PaidTerm(price=price, start=START, end=START + proration.TERM)
    credit = proration.unused_value([term], START + dt.timedelta(seconds=elapsed))
    assert 0 <= credit <= price


@given(
    old=st.integers(min_value=0, max_value=100_000),
    new=st.integers(min_value=0, max_value=100_000),
    elapsed=st.integers(min_value=0, max_value=proration.TERM_SECONDS - 1),
)
def test_change_is_the_difference_of_unused_values_within_a_hundredth(
    old, new, elapsed
):
    at = START + dt.timedelta(seconds=elapsed)
    term = proration.PaidTerm(price=old, start=START, end=START + proration.TERM)
    new_term = proration.PaidTerm(price=new, start=START, end=START + proration.TERM)
    charge = proration.change_charge([term], new_price=new, at=at)
    naive = proration.unused_value([new_term], at) - proration.unused_value([term], at)
    assert abs(charge - naive) <= 1


def test_a_renewal_paid_ahead_is_credited_whole_on_cancel():
    ahead = proration.PaidTerm(price=P, start=TERM.end, end=TERM.end + proration.TERM)
    at = START + dt.timedelta(days=20)
    assert proration.unused_value([TERM, ahead], at) == 500 + 1500
    assert proration.change_charge([TERM, ahead], new_price=U, at=at) == 333 + 1000
