"""Exact decimal amounts of the simulated brokerage: parsing the strings clients send,
the arithmetic context, and the wire format (JSON strings, byte for byte as stored).

Amounts are `decimal.Decimal` end to end; no float ever touches a price, a quantity or
a balance. Sums and products are exact (the context is wide enough for any amount the
control API admits); only divisions (average prices, the cost share of a partial close)
can be inexact, and those round half-to-even to `DIVISION_PLACES`.
"""

import decimal
from decimal import Decimal
from typing import Any

__all__ = [
    "DIVISION_PLACES",
    "ZERO",
    "divide",
    "exact",
    "fmt",
    "parse_amount",
]

# Digits the context keeps: an amount the control API admits has at most 40 digits, so
# the product of two stays exact.
PRECISION = 100
# Places a non-terminating quotient is rounded to (half to even).
DIVISION_PLACES = 10
# Most digits (before and after the point) an amount from a client may have.
MAX_DIGITS = 40

CONTEXT = decimal.Context(prec=PRECISION, rounding=decimal.ROUND_HALF_EVEN)
ZERO = Decimal(0)


def parse_amount(value: Any, *, positive: bool = False) -> Decimal | None:
    """A decimal amount from a JSON string or integer (never a float: its text is not
    the amount the client meant); None when it is not one. Keeps the exponent the
    client wrote, so "150.50" stays "150.50"."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except decimal.InvalidOperation:
        return None
    if not amount.is_finite() or amount.adjusted() >= MAX_DIGITS:
        return None
    if amount.as_tuple().exponent > 0:
        amount = amount.quantize(Decimal(1))  # "1E+3" -> 1000
    if len(amount.as_tuple().digits) > MAX_DIGITS:
        return None
    if positive and amount <= 0:
        return None
    return amount


def exact() -> decimal.localcontext:
    """`with exact():` does arithmetic in the wide context."""
    return decimal.localcontext(CONTEXT)


def divide(numerator: Decimal, denominator: Decimal) -> Decimal:
    """`numerator / denominator`, exact when the quotient terminates within the
    context, else rounded half-to-even to DIVISION_PLACES."""
    context = CONTEXT.copy()
    context.clear_flags()
    quotient = context.divide(numerator, denominator)
    if context.flags[decimal.Inexact]:
        return quotient.quantize(Decimal(1).scaleb(-DIVISION_PLACES), context=CONTEXT)
    return quotient


def fmt(amount: Decimal) -> str:
    """The wire form: plain notation, never an exponent ("1E+2" -> "100"), and no
    negative zero."""
    if amount == 0 and amount.is_signed():
        amount = -amount
    return format(amount, "f")
