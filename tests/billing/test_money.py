"""Credit amounts: the API's decimal strings and the one rounding rule."""

import pytest

from billing import money


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
