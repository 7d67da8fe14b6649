"""The series a request asks for: the most recent bars of any size, or a stretch of
intraday history."""

import dataclasses

from sandbox.synth.bars import BAR_SECONDS, Bar, bar_label
from sandbox.synth.daily import (
    aggregate,
    closed_daily,
    day_bar,
    group_key,
    latest_day,
    trading_days,
)
from sandbox.synth.intraday import (
    closed_intraday,
    intraday_bar,
    intraday_windows,
    newest_intraday,
)
from sandbox.synth.prices import Pricer
from sandbox.synth.sessions import session_window
from sandbox.synth.symbols import Symbol
from sandbox.synth.ticks import recent_ticks


@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    bar_type: str  # "1m", "tick", ...
    bars: tuple[Bar, ...]  # oldest first
    bar_end: float | None  # last second the newest bar covers


def series(
    symbol: Symbol,
    *,
    bar_type: str,
    interval: int,
    count: int,
    now: int,
    extended: bool = True,
    dadj: bool = False,
    backadjust: bool = False,
    settlement: bool = False,
) -> Series:
    """The `count` most recent bars up to `now`; the newest one may be in progress."""
    if bar_type == "tick":
        bars = recent_ticks(symbol.code, count, now)
        return Series("tick", bars, bars[-1][0] if bars else None)
    pricer = Pricer(symbol, now, dadj=dadj, backadjust=backadjust)
    if bar_type in BAR_SECONDS:
        size = BAR_SECONDS[bar_type] * interval
        newest = newest_intraday(symbol, size, now, extended)
        if newest is None:
            return Series(bar_label(bar_type, interval), (), None)
        older = closed_intraday(
            symbol.code,
            size,
            count - 1,
            extended,
            dadj,
            backadjust,
            newest[0],
            pricer.adjusted_until,
        )
        bars = (*older, intraday_bar(pricer, newest, now))
        return Series(bar_label(bar_type, interval), bars, newest[2] - 1)
    key = group_key(bar_type, interval)
    newest_day = latest_day(symbol, now)
    if newest_day is None:
        return Series(bar_label(bar_type, interval), (), None)
    newest_group = key(newest_day)
    older = closed_daily(
        symbol.code,
        bar_type,
        interval,
        count - 1,
        dadj,
        backadjust,
        settlement,
        newest_group,
        pricer.adjusted_until,
    )
    days = [
        d
        for d in trading_days(symbol, newest_day, 40 * interval)
        if key(d) == newest_group
    ]
    newest = aggregate(
        bar_type,
        newest_group,
        interval,
        [day_bar(pricer, d, now, settlement) for d in days],
    )
    window = session_window(symbol.session.name, newest_day, False)
    assert window is not None
    return Series(bar_label(bar_type, interval), (*older, newest), window[1] - 1)


def history(
    symbol: Symbol,
    *,
    bar_type: str,
    interval: int,
    start: int,
    end: int,
    now: int,
    limit: int,
    extended: bool = True,
    dadj: bool = False,
    backadjust: bool = False,
) -> Series:
    """Bars that start in [start, min(end, now)], oldest first, at most `limit`."""
    size = BAR_SECONDS[bar_type] * interval
    pricer = Pricer(symbol, now, dadj=dadj, backadjust=backadjust)
    windows = list(
        intraday_windows(symbol, size, min(end, now + 1), extended, None, start)
    )
    windows.reverse()
    windows = windows[:limit]
    bars = tuple(intraday_bar(pricer, window, now) for window in windows)
    bar_end = windows[-1][2] - 1 if windows else None
    return Series(bar_label(bar_type, interval), bars, bar_end)
