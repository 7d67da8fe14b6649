"""Level-1 quotes and the market status of a symbol at an instant."""

from typing import Any

from sandbox.synth.bars import bar_seed, round_volume
from sandbox.synth.noise import unit
from sandbox.synth.prices import Pricer
from sandbox.synth.sessions import current_session, session_window
from sandbox.synth.symbols import Symbol


def quote(symbol: Symbol, now: float, *, delay: int = 0) -> dict[str, Any]:
    """A level-1 quote as of `now` - `delay` seconds, in the upstream's field order."""
    t = int(now) - delay
    pricer = Pricer(symbol, t)
    session = symbol.session
    found = _quote_session(symbol, t)
    if found is None:
        last = pricer.round(pricer.at(t))
        return _quote_fields(
            symbol, "CLOSED", float(t), last, last, last, last, last, 0.0, delay, pricer
        )
    ordinal, (opens, closes) = found
    regular = session_window(session.name, ordinal, False)
    assert regular is not None
    regular_open, regular_close = regular
    if t >= closes:
        status, lp_time = "CLOSED", closes - 1
    elif t >= regular_close:
        status, lp_time = "POST_MARKET", t
    elif t >= regular_open:
        status, lp_time = "OPEN", t
    else:
        status, lp_time = "PRE_MARKET", t
    day_from = regular_open if lp_time >= regular_open else opens
    samples = [pricer.at(day_from + (lp_time - day_from) * i / 23) for i in range(24)]
    previous = _previous_regular_close(symbol, ordinal)
    prev_close = pricer.at(previous) if previous is not None else samples[0]
    # The day's volume so far: the same figure as the day bar in progress.
    elapsed = max(0, min(lp_time, regular_close) - regular_open)
    seed = bar_seed(symbol.code)
    volume = symbol.minute_volume * elapsed / 60 * (0.5 + unit(seed + 5, ordinal))
    r = pricer.round
    return _quote_fields(
        symbol,
        status,
        float(lp_time),
        r(samples[-1]),
        r(prev_close),
        r(samples[0]),
        r(min(samples)),
        r(max(samples)),
        round_volume(symbol, volume),
        delay,
        pricer,
    )


def _quote_session(symbol: Symbol, t: int) -> tuple[int, tuple[int, int]] | None:
    found = current_session(symbol.session, t, extended=True)
    if found is None:
        return None
    if symbol.expiry is not None and found[0] > symbol.expiry.toordinal():
        window = session_window(symbol.session.name, symbol.expiry.toordinal(), True)
        return (symbol.expiry.toordinal(), window) if window else None
    return found


def _previous_regular_close(symbol: Symbol, ordinal: int) -> int | None:
    for day in range(ordinal - 1, ordinal - 15, -1):
        window = session_window(symbol.session.name, day, False)
        if window is not None:
            return window[1] - 1
    return None


def _quote_fields(
    symbol: Symbol,
    status: str,
    lp_time: float,
    last: float,
    prev_close: float,
    open_: float,
    low: float,
    high: float,
    volume: float,
    delay: int,
    pricer: Pricer,
) -> dict[str, Any]:
    seed = bar_seed(symbol.code)
    spread = max(1, int(unit(seed + 7, int(lp_time)) * 3)) * symbol.tick
    change = pricer.round(last - prev_close) if prev_close else 0.0
    digits = symbol.decimals
    return {
        "code": symbol.code,
        "status": status,
        "lp_time": lp_time,
        "volume": volume,
        "last_price": last,
        "change_percent": round(change / prev_close * 100, 2) if prev_close else 0.0,
        "change": round(change, digits),
        "ask": round(last + spread, digits),
        "bid": last,
        "ask_size": float(1 + int(unit(seed + 8, int(lp_time)) * 9)),
        "bid_size": float(1 + int(unit(seed + 9, int(lp_time)) * 9)),
        "prev_close_price": prev_close,
        "open_price": open_,
        "low_price": min(low, last),
        "high_price": max(high, last),
        "market_cap": round(symbol.shares * last, 0) if symbol.shares else None,
        "currency_code": symbol.currency,
        "delay_seconds": delay,
    }


def status(symbol: Symbol, now: float) -> str:
    found = _quote_session(symbol, int(now))
    if found is None or now >= found[1][1]:
        return "CLOSED"
    regular = session_window(symbol.session.name, found[0], False)
    assert regular is not None
    if regular[0] <= now < regular[1]:
        return "OPEN"
    return "PRE_MARKET" if now < regular[0] else "POST_MARKET"
