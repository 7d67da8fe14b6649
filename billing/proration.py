"""Proration per second over the term (design.md, "Money"). Pure functions.

amount = price × remaining_seconds / term_seconds, in hundredths, rounded once.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from billing.money import round_half_even

TERM = dt.timedelta(days=30)
TERM_SECONDS = int(TERM.total_seconds())


@dataclass(frozen=True)
class PaidTerm:
    """What was paid for the current term: the price and the period it bought."""

    price: int  # hundredths of a credit
    start: dt.datetime
    end: dt.datetime


def remaining_seconds(term: PaidTerm, at: dt.datetime) -> int:
    """Whole seconds left in the term at `at`, between 0 and the term's length."""
    left = (term.end - max(at, term.start)).total_seconds()
    return max(0, min(int(left), int((term.end - term.start).total_seconds())))


def term_seconds(term: PaidTerm) -> int:
    return int((term.end - term.start).total_seconds())


def _unused_fraction(terms: Sequence[PaidTerm], at: dt.datetime, *, delta: int | None):
    """Σ price × remaining / length over the paid terms, exact (no rounding yet).
    With `delta`, prices are replaced by (delta − price): the difference a change makes."""
    total = Fraction(0)
    for term in terms:
        seconds = term_seconds(term)
        if seconds <= 0:
            continue
        amount = term.price if delta is None else delta - term.price
        total += Fraction(amount * remaining_seconds(term, at), seconds)
    return total


def unused_value(terms: Sequence[PaidTerm], at: dt.datetime) -> int:
    """The part of what was paid not yet used: what a cancel credits back. A renewal paid
    ahead counts whole. Rounded once."""
    return round_half_even(_unused_fraction(terms, at, delta=None))


def change_charge(terms: Sequence[PaidTerm], *, new_price: int, at: dt.datetime) -> int:
    """Charge (positive) or credit (negative) for switching plans at `at`.

    The difference between the new price and what was paid, for the time left in each
    paid term: Σ (new − paid) × remaining / term, rounded once. With no time left the
    new plan is bought whole.
    """
    if not any(remaining_seconds(t, at) for t in terms):
        return new_price
    return round_half_even(_unused_fraction(terms, at, delta=new_price))


def renewal_period(
    terms: Sequence[PaidTerm], *, at: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """A renewal before expiry starts at the old end; after expiry it starts now."""
    last_end = max((t.end for t in terms), default=None)
    start = last_end if last_end is not None and last_end > at else at
    return start, start + TERM
