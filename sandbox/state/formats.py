"""Money and time as the upstream writes them."""

import datetime as dt


def format_credits(hundredths: int) -> str:
    """Hundredths of a credit as a decimal string with two places: 12345 -> "123.45"."""
    sign = "-" if hundredths < 0 else ""
    whole, cents = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{cents:02d}"


def format_time(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z, as upstream writes it."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
