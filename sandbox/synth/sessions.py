"""Trading sessions and exchange holidays: when each market trades, by local session
date (a US stock has no session on a Saturday, bitcoin has)."""

import calendar
import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable
from zoneinfo import ZoneInfo


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    """Trading hours in local minutes after midnight of the session date. An open at or
    after the close means the session opens the evening before (Globex, FX)."""

    name: str
    timezone: str
    regular: tuple[int, int]
    extended: tuple[int, int]
    weekdays: frozenset[int]  # session dates that trade; Monday = 0
    holidays: str  # "us" (NYSE calendar), "fx" (Jan 1, Dec 25) or "" (none)
    settlement: int | None = None  # local minute of the daily settlement (futures)

    def hours(self, extended: bool) -> str:
        start, end = self.extended if extended else self.regular
        return f"{_hhmm(start)}-{_hhmm(end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}{minutes % 60:02d}"


WEEKDAYS = frozenset(range(5))
US_EQUITY = Session(
    "us_equity", "America/New_York", (570, 960), (240, 1200), WEEKDAYS, "us"
)
CME_GLOBEX = Session(
    "cme_globex", "America/Chicago", (1020, 960), (1020, 960), WEEKDAYS, "us", 900
)
COMEX_METALS = Session(
    "comex", "America/Chicago", (1020, 960), (1020, 960), WEEKDAYS, "us", 810
)
CRYPTO = Session("crypto", "UTC", (0, 1440), (0, 1440), frozenset(range(7)), "")
FOREX = Session("fx", "America/New_York", (1020, 1020), (1020, 1020), WEEKDAYS, "fx")
US_BONDS = Session(
    "us_bonds", "America/New_York", (1200, 1020), (1200, 1020), WEEKDAYS, "us"
)
SESSIONS = {
    s.name: s for s in (US_EQUITY, CME_GLOBEX, COMEX_METALS, CRYPTO, FOREX, US_BONDS)
}


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th (1-based; -1 = last) given weekday of a month."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return dt.date(year, month, day + 1)


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


@functools.cache
def us_holidays(year: int) -> frozenset[dt.date]:
    """NYSE full-day closures by rule (the one-off closures are left out)."""
    days = {
        nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - dt.timedelta(days=2),  # Good Friday
        nth_weekday(year, 5, 0, -1),  # Memorial Day
        _observed(dt.date(year, 7, 4)),
        nth_weekday(year, 9, 0, 1),  # Labor Day
        nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(dt.date(year, 12, 25)),
    }
    new_year = dt.date(year, 1, 1)
    # NYSE does not close on Friday Dec 31 for a Saturday New Year's Day.
    if new_year.weekday() != 5:
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(dt.date(year, 6, 19)))  # Juneteenth
    return frozenset(days)


def is_holiday(session: Session, day: dt.date) -> bool:
    if session.holidays == "us":
        return day in us_holidays(day.year)
    if session.holidays == "fx":
        return (day.month, day.day) in ((1, 1), (12, 25))
    return False


def holiday_dates(session: Session, year: int) -> Iterable[dt.date]:
    if session.holidays == "us":
        return us_holidays(year)
    if session.holidays == "fx":
        return (dt.date(year, 1, 1), dt.date(year, 12, 25))
    return ()


def local_epoch(day: dt.date, minutes: int, tz: ZoneInfo) -> int:
    extra, minutes = divmod(minutes, 1440)
    day = day + dt.timedelta(days=extra)
    local = dt.datetime(
        day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz
    )
    return int(local.timestamp())


@functools.lru_cache(maxsize=1 << 17)
def session_window(
    session_name: str, ordinal: int, extended: bool
) -> tuple[int, int] | None:
    """[open, close) in Unix seconds of the session dated `ordinal`, or None if that date
    does not trade."""
    session = SESSIONS[session_name]
    day = dt.date.fromordinal(ordinal)
    if day.weekday() not in session.weekdays or is_holiday(session, day):
        return None
    start, end = session.extended if extended else session.regular
    tz = ZoneInfo(session.timezone)
    opens_on = day - dt.timedelta(days=1) if start >= end else day
    return local_epoch(opens_on, start, tz), local_epoch(day, end, tz)


def local_ordinal(session: Session, t: float) -> int:
    return dt.datetime.fromtimestamp(t, ZoneInfo(session.timezone)).date().toordinal()


def current_session(
    session: Session, t: float, *, extended: bool = True, floor: int = 0
) -> tuple[int, tuple[int, int]] | None:
    """The latest session (date ordinal, window) that has opened by `t`."""
    ordinal = local_ordinal(session, t) + 1
    for day in range(ordinal, max(floor, ordinal - 30) - 1, -1):
        window = session_window(session.name, day, extended)
        if window is not None and window[0] <= t:
            return day, window
    return None


def next_sessions(
    session: Session, t: float, count: int
) -> list[tuple[int, tuple[int, int]]]:
    """The next `count` sessions that close after `t`, oldest first."""
    found = []
    day = local_ordinal(session, t) - 1
    while len(found) < count and day < local_ordinal(session, t) + 60:
        window = session_window(session.name, day, True)
        if window is not None and window[1] > t:
            found.append((day, window))
        day += 1
    return found
