"""Cursor pagination: the `cursor` query parameter of the newest-first lists. Cursors
are made and read by `members.selectors` (cursor_encode, cursor_decode)."""

from rest_framework import serializers

from members import selectors
from members.errors import ValidationFailed


def cursor_field() -> serializers.RegexField:
    return serializers.RegexField(
        selectors.CURSOR_PATTERN,
        required=False,
        help_text="next_cursor from the previous page",
    )


def cursor_before(query: dict) -> int | None:
    """The id a page continues below, from a validated query's `cursor` (None: the
    first page)."""
    if not query.get("cursor"):
        return None
    try:
        return selectors.cursor_decode(query["cursor"])
    except ValueError:
        raise ValidationFailed(
            "cursor is not one this API gave out", code="INVALID_CURSOR"
        ) from None


def next_cursor(last_id: int | None) -> str | None:
    """The cursor of the page after one whose last row is `last_id` (None: no more)."""
    return selectors.cursor_encode(last_id) if last_id else None
