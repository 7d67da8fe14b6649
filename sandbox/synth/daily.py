"""Day, week and month bars: one bar per regular session, grouped by calendar."""

import datetime as dt
import itertools
import math
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.synth.bars import CACHED_BARS, Bar, BarCache, bar_seed, round_volume
from sandbox.synth.catalogue import lookup
from sandbox.synth.epoch import DAY, EPOCH_ORDINAL, MONDAY_ORDINAL, day_epoch
from sandbox.synth.noise import unit
from sandbox.synth.prices import Pricer
from sandbox.synth.sessions import current_session, local_epoch, session_window
from sandbox.synth.symbols import Symbol


def trading_days(symbol: Symbol, newest: int, count: int) -> list[int]:
    """Up to `count` session date ordinals ending with `newest`, newest first."""
    days = []
    ordinal = newest
    first = symbol.listed.toordinal()
    while ordinal >= first and len(days) < count:
        if session_window(symbol.session.name, ordinal, False) is not None:
            days.append(ordinal)
        ordinal -= 1
    return days


def latest_day(symbol: Symbol, now: int) -> int | None:
    found = current_session(symbol.session, now, extended=False)
    if found is None:
        return None
    ordinal = found[0]
    if symbol.expiry is not None:
        ordinal = min(ordinal, symbol.expiry.toordinal())
    if ordinal < symbol.listed.toordinal():
        return None
    while session_window(symbol.session.name, ordinal, False) is None:
        ordinal -= 1
    return ordinal


def group_key(bar_type: str, interval: int) -> Any:
    if bar_type == "day":
        return lambda ordinal: (ordinal - EPOCH_ORDINAL) // interval
    if bar_type == "week":
        return lambda ordinal: (ordinal - MONDAY_ORDINAL) // (7 * interval)

    def month_key(ordinal: int) -> int:
        day = dt.date.fromordinal(ordinal)
        return (day.year * 12 + day.month - 1) // interval

    return month_key


def _group_time(bar_type: str, group: int, interval: int, first_day: int) -> float:
    if bar_type == "day":
        return float(day_epoch(dt.date.fromordinal(first_day)))
    if bar_type == "week":
        return float(
            day_epoch(dt.date.fromordinal(MONDAY_ORDINAL + group * 7 * interval))
        )
    year, month = divmod(group * interval, 12)
    return float(day_epoch(dt.date(year, month + 1, 1)))


def day_bar(pricer: Pricer, ordinal: int, now: float, settlement: bool) -> Bar:
    symbol = pricer.symbol
    window = session_window(symbol.session.name, ordinal, False)
    assert window is not None
    opens, closes = window
    end = min(closes, now)
    close_at = end
    if settlement and symbol.session.settlement is not None:
        settles = local_epoch(
            dt.date.fromordinal(ordinal),
            symbol.session.settlement,
            ZoneInfo(symbol.session.timezone),
        )
        close_at = min(settles, end)
    seed = bar_seed(symbol.code)
    elapsed = max(1, end - opens)
    open_ = pricer.at(opens)
    close = pricer.at(close_at)
    reach = symbol.walk.sigma * math.sqrt(elapsed / DAY) * 0.9
    high = max(open_, close) * (1 + reach * unit(seed + 3, ordinal))
    low = min(open_, close) * (1 - reach * unit(seed + 4, ordinal))
    volume = symbol.minute_volume * elapsed / 60 * (0.5 + unit(seed + 5, ordinal))
    r = pricer.round
    return (
        float(day_epoch(dt.date.fromordinal(ordinal))),
        r(open_),
        r(high),
        r(low),
        r(close),
        round_volume(symbol, volume),
    )


def aggregate(bar_type: str, group: int, interval: int, days: list[Bar]) -> Bar:
    """One bar from day bars (any order)."""
    days = sorted(days)
    first_day = int(days[0][0] // DAY) + EPOCH_ORDINAL
    volume = sum(day[5] for day in days)
    return (
        _group_time(bar_type, group, interval, first_day),
        days[0][1],
        max(day[2] for day in days),
        min(day[3] for day in days),
        days[-1][4],
        round(volume, 4),
    )


@BarCache(CACHED_BARS)
def closed_daily(
    code: str,
    bar_type: str,
    interval: int,
    count: int,
    dadj: bool,
    backadjust: bool,
    settlement: bool,
    before_group: int,
    adjusted_until: int,
) -> tuple[Bar, ...]:
    """The `count` bars before group `before_group`: complete, so cacheable."""
    if count <= 0:
        return ()
    symbol = lookup(code)
    assert symbol is not None
    key = group_key(bar_type, interval)
    # Start from the last session of the group before `before_group`.
    ordinal = _newest_day_before_group(symbol, key, before_group)
    if ordinal is None:
        return ()
    # Every day here has closed: price them as of any later time.
    now = float(10**12)
    pricer = Pricer(symbol, adjusted_until, dadj=dadj, backadjust=backadjust)
    bars: list[Bar] = []
    for group, days in itertools.groupby(_sessions_back(symbol, ordinal), key):
        day_bars = [day_bar(pricer, day, now, settlement) for day in days]
        bars.append(aggregate(bar_type, group, interval, day_bars))
        if len(bars) >= count:
            break
    bars.reverse()
    return tuple(bars)


def _sessions_back(symbol: Symbol, ordinal: int) -> Iterator[int]:
    """Trading date ordinals from `ordinal` back to the listing, newest first."""
    first = symbol.listed.toordinal()
    while ordinal >= first:
        if session_window(symbol.session.name, ordinal, False) is not None:
            yield ordinal
        ordinal -= 1


def _newest_day_before_group(symbol: Symbol, key: Any, group: int) -> int | None:
    ordinal = _first_day_of_group(key, group) - 1
    first = symbol.listed.toordinal()
    while ordinal >= first:
        if session_window(symbol.session.name, ordinal, False) is not None:
            return ordinal
        ordinal -= 1
    return None


def _first_day_of_group(key: Any, group: int) -> int:
    """The first date ordinal whose group is `group` (group keys never decrease)."""
    low, high = 1, dt.date.max.toordinal()
    while low < high:
        middle = (low + high) // 2
        if key(middle) < group:
            low = middle + 1
        else:
            high = middle
    return low
