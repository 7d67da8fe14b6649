"""Credit amounts: integers in hundredths of a credit ("cents" of a credit).

This module is the only place that rounds. Every posting rounds once, half to even.
"""

import re
from fractions import Fraction

HUNDREDTHS = 100  # hundredths per credit; also US cents per USD

_AMOUNT_RE = re.compile(r"^(-)?(\d{1,12})(?:\.(\d{1,2}))?$")


class AmountError(ValueError):
    pass


def round_half_even(value: Fraction) -> int:
    """Round an exact fraction of hundredths to a whole hundredth, ties to even."""
    return round(value)  # Fraction.__round__ with no ndigits rounds half to even


def prorate(*, amount: int, numerator: int, denominator: int) -> int:
    """`amount × numerator / denominator`, in hundredths, rounded once."""
    if denominator <= 0:
        raise AmountError("proration needs a positive denominator")
    return round_half_even(Fraction(amount * numerator, denominator))


def percent_of(*, amount: int, percent: int) -> int:
    return round_half_even(Fraction(amount * percent, 100))


def format_amount(hundredths: int, *, grouped: bool = False, minus: str = "-") -> str:
    """12345 → "123.45"; -5 → "-0.05": the API's decimal-string form. For people,
    `grouped` adds thousands separators (123456 → "1,234.56") and `minus` may be a
    typographic minus sign."""
    sign = minus if hundredths < 0 else ""
    whole, frac = divmod(abs(hundredths), HUNDREDTHS)
    return f"{sign}{whole:,}.{frac:02d}" if grouped else f"{sign}{whole}.{frac:02d}"


def parse_amount(text: str) -> int:
    """ "123.45" / "123" / 123 → 12345. Refuses floats' surprises and a third decimal."""
    if isinstance(text, bool):
        raise AmountError('expected a decimal string such as "100.00"')
    if isinstance(text, int):
        return text * HUNDREDTHS
    if not isinstance(text, str):
        raise AmountError('expected a decimal string such as "100.00"')
    match = _AMOUNT_RE.match(text.strip())
    if not match:
        raise AmountError(
            'expected a decimal string with at most two places, such as "100.00"'
        )
    sign, whole, frac = match.groups()
    value = int(whole) * HUNDREDTHS + int((frac or "0").ljust(2, "0"))
    return -value if sign else value


def credits_to_hundredths(credits: int) -> int:
    return credits * HUNDREDTHS
