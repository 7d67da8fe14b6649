"""Template filters of the portal: amounts are integers in hundredths."""

import datetime as dt

from django import template

from billing.money import format_amount
from orgportal import clock

register = template.Library()


@register.filter
def credits(hundredths) -> str:
    """12345 → "123.45" (hundredths of a credit)."""
    if hundredths is None or hundredths == "":
        return ""
    return format_amount(int(hundredths))


@register.filter
def signed(hundredths) -> str:
    """12345 → "+123.45"; -500 → "−5.00"."""
    if hundredths is None:
        return ""
    value = int(hundredths)
    text = format_amount(abs(value))
    return f"+{text}" if value > 0 else (f"−{text}" if value < 0 else text)


@register.filter
def usd(cents) -> str:
    """US cents → "1,234.50"."""
    if cents is None:
        return ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{'-' if int(cents) < 0 else ''}{whole:,}.{frac:02d}"


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
