"""Second, minute and hour bars: epoch-aligned windows clipped to the sessions."""

import math
from collections.abc import Iterator

from sandbox.synth.bars import CACHED_BARS, Bar, BarCache, bar_seed, round_volume
from sandbox.synth.catalogue import lookup
from sandbox.synth.epoch import DAY
from sandbox.synth.noise import unit
from sandbox.synth.prices import Pricer
from sandbox.synth.sessions import local_ordinal, session_window
from sandbox.synth.symbols import Symbol


def intraday_windows(
    symbol: Symbol,
    size: int,
    before: int,
    extended: bool,
    limit: int | None,
    floor: int | None = None,
) -> Iterator[tuple[int, int, int, bool]]:
    """(bar start, covered from, covered until, in regular hours) of the bars starting
    before `before`, newest first; bars are epoch-aligned and clipped to the session."""
    session = symbol.session
    ordinal = local_ordinal(session, before) + 1
    first = symbol.listed.toordinal()
    if floor is not None:
        first = max(first, local_ordinal(session, floor) - 1)
    if symbol.expiry is not None:
        ordinal = min(ordinal, symbol.expiry.toordinal())
    produced = 0
    previous_start: int | None = None
    while ordinal >= first:
        window = session_window(session.name, ordinal, extended)
        regular = session_window(session.name, ordinal, False) if extended else window
        ordinal -= 1
        if window is None or window[0] >= before:
            continue
        opens, closes = window
        assert regular is not None
        regular_open, regular_close = regular
        start = (min(closes, before) - 1) // size * size
        if previous_start is not None and start >= previous_start:
            start = previous_start - size
        lowest = opens // size * size
        if floor is not None:
            lowest = max(lowest, floor)
        while start >= lowest:
            covered_from = max(start, opens)
            yield (
                start,
                covered_from,
                min(start + size, closes),
                regular_open <= covered_from < regular_close,
            )
            produced += 1
            if limit is not None and produced >= limit:
                return
            previous_start = start
            start -= size
        if floor is not None and opens <= floor:
            return


def newest_intraday(
    symbol: Symbol, size: int, now: int, extended: bool
) -> tuple[int, int, int, bool] | None:
    return next(intraday_windows(symbol, size, now + 1, extended, 1), None)


@BarCache(CACHED_BARS)
def closed_intraday(
    code: str,
    size: int,
    count: int,
    extended: bool,
    dadj: bool,
    backadjust: bool,
    before: int,
    adjusted_until: int,
) -> tuple[Bar, ...]:
    """The `count` bars before the bar starting at `before`: complete, so cacheable
    until the next bar starts (or an adjustment event passes)."""
    if count <= 0:
        return ()
    symbol = lookup(code)
    assert symbol is not None
    pricer = Pricer(symbol, adjusted_until, dadj=dadj, backadjust=backadjust)
    bars = [
        intraday_bar(pricer, window, before)
        for window in intraday_windows(symbol, size, before, extended, count)
    ]
    bars.reverse()
    return tuple(bars)


def intraday_bar(pricer: Pricer, window: tuple[int, int, int, bool], now: float) -> Bar:
    start, covered_from, covered_until, regular = window
    end = covered_until if covered_until <= now else now
    elapsed = max(1, end - covered_from)
    symbol = pricer.symbol
    open_ = pricer.at(covered_from)
    close = pricer.at(end)
    seed = bar_seed(symbol.code)
    reach = symbol.walk.sigma * math.sqrt(elapsed / DAY) * 0.8
    high = max(open_, close) * (1 + reach * unit(seed, start))
    low = min(open_, close) * (1 - reach * unit(seed + 1, start))
    activity = 1.0 if regular else 0.08
    volume = (
        symbol.minute_volume
        * elapsed
        / 60
        * activity
        * (0.35 + 1.3 * unit(seed + 2, start))
    )
    r = pricer.round
    return (
        float(start),
        r(open_),
        r(high),
        r(low),
        r(close),
        round_volume(symbol, volume),
    )
