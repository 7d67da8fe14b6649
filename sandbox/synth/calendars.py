"""Calendars: dividends, earnings, IPOs and economic events in a date range."""

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.synth.catalogue import searchable
from sandbox.synth.epoch import DAY, day_epoch
from sandbox.synth.fundamentals import fundamental_base
from sandbox.synth.noise import seed_of, unit
from sandbox.synth.prices import Pricer, ex_dividend_dates
from sandbox.synth.sessions import local_epoch, nth_weekday

CALENDARS = ("dividends", "earnings", "ipos", "events")


def calendar_items(
    kind: str, start: dt.date, end: dt.date, now: float
) -> list[dict[str, Any]]:
    """Items dated in [start, end], oldest first."""
    if kind == "dividends":
        return _dividend_items(start, end, now)
    if kind == "earnings":
        return _earnings_items(start, end, now)
    if kind == "ipos":
        return _ipo_items(start, end, now)
    return _economic_items(start, end, now)


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def _dividend_items(start: dt.date, end: dt.date, now: float) -> list[dict[str, Any]]:
    items = []
    horizon = day_epoch(end) + DAY
    for symbol in searchable():
        for day in ex_dividend_dates(symbol, horizon):
            if start <= day <= end:
                pricer = Pricer(symbol, now)
                per_quarter = symbol.dividend_yield / len(symbol.dividend_months)
                amount = pricer.raw(min(day_epoch(day), now)) * per_quarter
                items.append(
                    {
                        "code": symbol.code,
                        "name": symbol.name,
                        "ex_date": day.isoformat(),
                        "record_date": (day + dt.timedelta(days=1)).isoformat(),
                        "payment_date": (day + dt.timedelta(days=14)).isoformat(),
                        "amount": round(amount, 4),
                        "currency_code": symbol.currency,
                        "frequency": "quarterly",
                    }
                )
    return sorted(items, key=lambda item: (item["ex_date"], item["code"]))


def _earnings_items(start: dt.date, end: dt.date, now: float) -> list[dict[str, Any]]:
    items = []
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    for symbol in searchable():
        if not symbol.earnings_months:
            continue
        seed = seed_of("earnings", symbol.code)
        base = fundamental_base(symbol)
        for year in range(start.year, end.year + 1):
            for month in symbol.earnings_months:
                day = dt.date(year, month, 20 + int(unit(seed, year * 12 + month) * 9))
                while day.weekday() > 3:
                    day -= dt.timedelta(days=1)
                if not start <= day <= end:
                    continue
                quarter_end = dt.date(year, month, 1) - dt.timedelta(days=1)
                estimate = base["net_income"] / 4 / symbol.shares
                surprise = 0.9 + 0.2 * unit(seed + 1, day.toordinal())
                reported = day < today
                items.append(
                    {
                        "code": symbol.code,
                        "name": symbol.name,
                        "date": day.isoformat(),
                        "time": "amc" if unit(seed + 2, year) < 0.6 else "bmo",
                        "fiscal_period": f"Q{(quarter_end.month - 1) // 3 + 1} {quarter_end.year}",
                        "eps_estimate": round(estimate, 2),
                        "eps_actual": round(estimate * surprise, 2)
                        if reported
                        else None,
                        "revenue_estimate": round(base["revenue"] / 4),
                        "revenue_actual": (
                            round(base["revenue"] / 4 * surprise) if reported else None
                        ),
                    }
                )
    return sorted(items, key=lambda item: (item["date"], item["code"]))


_IPO_WORDS = (
    "Quantum",
    "Harbor",
    "Nimbus",
    "Granite",
    "Vector",
    "Lumen",
    "Cobalt",
    "Aster",
)
_IPO_KINDS = ("Robotics", "Therapeutics", "Networks", "Energy", "Payments", "Analytics")


def _ipo_items(start: dt.date, end: dt.date, now: float) -> list[dict[str, Any]]:
    items = []
    seed = seed_of("ipos")
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    for day in _days(start, end):
        ordinal = day.toordinal()
        if day.weekday() > 4 or unit(seed, ordinal) > 0.25:
            continue
        word = _IPO_WORDS[int(unit(seed + 1, ordinal) * len(_IPO_WORDS))]
        kind = _IPO_KINDS[int(unit(seed + 2, ordinal) * len(_IPO_KINDS))]
        ticker = (word[:2] + kind[:2]).upper()
        low = round(10 + 20 * unit(seed + 3, ordinal))
        exchange = "NASDAQ" if unit(seed + 4, ordinal) < 0.7 else "NYSE"
        items.append(
            {
                "code": f"{exchange}:{ticker}",
                "name": f"{word} {kind} Inc.",
                "exchange": exchange,
                "date": day.isoformat(),
                "price_range_low": float(low),
                "price_range_high": float(low + 2),
                "shares_offered": float(round(5e6 + 3e7 * unit(seed + 5, ordinal))),
                "status": "priced" if day < today else "expected",
            }
        )
    return items


def _economic_items(start: dt.date, end: dt.date, now: float) -> list[dict[str, Any]]:
    items = []
    seed = seed_of("events")
    new_york = ZoneInfo("America/New_York")
    for day in _days(start, end):
        events = []
        if day.weekday() == 3:
            events.append(("Initial Jobless Claims", "medium", 230_000.0, "", 510))
        if day.weekday() == 4 and day.day <= 7:
            events.append(("Nonfarm Payrolls", "high", 150_000.0, "", 510))
            events.append(("Unemployment Rate", "high", 4.2, "%", 510))
        if day.day == nth_weekday(day.year, day.month, 1, 2).day:
            events.append(("CPI (YoY)", "high", 2.9, "%", 510))
        if day.month in (1, 3, 4, 6, 7, 9, 10, 12) and day == nth_weekday(
            day.year, day.month, 2, 3
        ):
            events.append(("FOMC Interest Rate Decision", "high", 4.0, "%", 840))
        for title, importance, level, unit_label, minute in events:
            moment = local_epoch(day, minute, new_york)
            wobble = 1 + 0.04 * (unit(seed, moment) - 0.5)
            forecast = round(level * wobble, 1)
            items.append(
                {
                    "id": f"{title.split()[0].lower()}-{day:%Y%m%d}",
                    "title": title,
                    "country": "US",
                    "date": dt.datetime.fromtimestamp(moment, dt.UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "importance": importance,
                    "unit": unit_label,
                    "forecast": forecast,
                    "previous": round(
                        level * (1 + 0.04 * (unit(seed + 1, moment) - 0.5)), 1
                    ),
                    "actual": (
                        round(forecast * (1 + 0.03 * (unit(seed + 2, moment) - 0.5)), 1)
                        if moment <= now
                        else None
                    ),
                }
            )
    return items
