"""Bounds and cleaners every input path shares: API serializers, portal forms, URLs.

A value the database cannot store must be refused where the input is parsed, with an
error naming the field; reaching the database, it would fail the request with a 500
(PostgreSQL refuses integers beyond a column's range and NUL anywhere in text).
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.urls import register_converter

# PositiveIntegerField and IntegerField columns are signed 32-bit on PostgreSQL.
INT_FIELD_MAX = 2_147_483_647
# Primary keys (BigAutoField) are signed 64-bit.
ID_MAX = 9_223_372_036_854_775_807

# Dates the product reasons about (terms, previews, ledger filters) lie in this window.
# Its upper end keeps a date plus a few 30-day terms far inside datetime's range
# (year 9999), so arithmetic on an accepted date can never overflow.
EARLIEST_YEAR = 1970
LATEST_YEAR = 9000


def has_control_chars(value: str) -> bool:
    """C0 controls, NUL included: no uid, plan name or search term contains one."""
    return any(ord(c) < 32 for c in value)


def refuse_control_chars(value: str) -> None:
    """A validator for Django form fields and DRF fields alike."""
    if has_control_chars(value):
        raise ValidationError("Control characters are not allowed.", code="control")


def refuse_far_dates(value: dt.date) -> None:
    """A validator for dates and datetimes: only years EARLIEST_YEAR..LATEST_YEAR."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValidationError(
            f"Dates must fall between the years {EARLIEST_YEAR} and {LATEST_YEAR}.",
            code="date_range",
        )


def query_text(value: str | None, *, max_length: int = 100) -> str:
    """A free-text query parameter read straight from request.GET, stripped; raises
    ValidationError when it is too long or carries control characters."""
    text = (value or "").strip()
    if len(text) > max_length:
        raise ValidationError(f"At most {max_length} characters.", code="max_length")
    refuse_control_chars(text)
    return text


class MemberUidConverter:
    """A uid path segment. A segment with control characters names no member (they are
    refused when members are created), so it does not match: a 404 like any unknown
    URL, before a query that PostgreSQL would refuse for a NUL."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        if has_control_chars(value):
            raise ValueError("control characters in a uid")
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(MemberUidConverter, "uid")
