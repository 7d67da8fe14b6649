"""The proration vectors of design.md ("Money"), and its rounding properties."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from billing import proration

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
