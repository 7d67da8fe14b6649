"""Template filters of the portal: amounts are integers in hundredths (portal.display
writes every number the same way)."""

import datetime as dt

from django import template

from orgportal import clock
from portal import display

register = template.Library()


def _blank_or(convert):
    """The filter leaves a missing value empty."""

    def filter_(value) -> str:
        if value is None or value == "":
            return ""
        return convert(value)

    filter_.__doc__ = convert.__doc__
    return filter_


# Hundredths of a credit, or US cents: 12345 → "123.45", 123456 → "1,234.56".
register.filter("credits", _blank_or(display.amount))
register.filter("usd", _blank_or(display.amount))
# A wallet movement: "+" into the wallet, "−" out of it.
register.filter("signed", _blank_or(display.signed_amount))
register.filter("count", _blank_or(display.count))
register.filter("words", _blank_or(display.words))
register.filter("decimal", _blank_or(display.decimal))


@register.filter
def quota(value) -> str:
    """A monthly quota: 0 means unlimited."""
    if value is None or value == "":
        return ""
    return display.count(value) if int(value) else "unlimited"


@register.filter
def utc(value) -> str:
    if not isinstance(value, dt.datetime):
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@register.filter
def days_left(value) -> str:
    if not isinstance(value, dt.datetime):
        return ""
    seconds = (value - clock.now()).total_seconds()
    if seconds <= 0:
        return "ended"
    days = seconds / 86400
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"
