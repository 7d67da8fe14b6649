"""When a term's scheduled work falls due. Pure functions: no ORM, no clock."""

import datetime as dt

DAY = dt.timedelta(days=1)


def first_reminder_at(
    term_end: dt.datetime, reminder_days: list[int]
) -> dt.datetime | None:
    """The earliest reminder of a term; null when the organisation sends none."""
    days = [d for d in reminder_days if d > 0]
    return term_end - max(days) * DAY if days else None


def reminder_due(
    term_end: dt.datetime, reminder_days: list[int], at: dt.datetime
) -> int | None:
    """Which reminder is due at `at`: the most urgent whose time has come (a worker that
    was down for days sends the 1-day reminder, not a stale 7-day one). None before the
    first one and once the term has ended."""
    if at >= term_end:
        return None
    come = [d for d in reminder_days if d > 0 and term_end - d * DAY <= at]
    return min(come) if come else None


def reminder_after(
    term_end: dt.datetime, reminder_days: list[int], sent: int
) -> dt.datetime | None:
    """When the next reminder after the `sent`-day one falls due, if any."""
    smaller = [d for d in reminder_days if 0 < d < sent]
    return term_end - max(smaller) * DAY if smaller else None


def renew_due(term_end: dt.datetime, lead: dt.timedelta, at: dt.datetime) -> bool:
    """Auto-renewal runs from `lead` before the end until the end itself."""
    return term_end - lead <= at < term_end
