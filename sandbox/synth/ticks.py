"""Trades: the most recent ticks of a symbol, as one-price bars."""

import functools

from sandbox.synth.bars import Bar
from sandbox.synth.catalogue import lookup
from sandbox.synth.intraday import intraday_windows
from sandbox.synth.noise import seed_of, unit
from sandbox.synth.prices import Pricer
from sandbox.synth.symbols import Symbol


def _ticks_per_second(symbol: Symbol, regular: bool) -> int:
    if symbol.type in ("crypto", "futures"):
        return 4
    return 4 if regular else 2


@functools.lru_cache(maxsize=2)
def recent_ticks(code: str, count: int, now: int) -> tuple[Bar, ...]:
    """The `count` most recent trades up to `now`, as one-price bars."""
    symbol = lookup(code)
    assert symbol is not None
    pricer = Pricer(symbol, now)
    seed = seed_of("ticks", code)
    ticks: list[Bar] = []
    for start, _, _, regular in intraday_windows(symbol, 1, now + 1, True, None):
        most = _ticks_per_second(symbol, regular)
        trades = int(unit(seed, start) * most)
        offsets = sorted(
            (unit(seed + 1 + j, start) for j in range(trades)), reverse=True
        )
        for j, offset in enumerate(offsets):
            moment = round(start + offset, 3)
            if moment > now:
                continue
            size = unit(seed + 9 + j, start)
            if symbol.type == "crypto":
                volume = round(0.0001 + size * size * 0.5, 4)
            elif symbol.type == "futures":
                volume = float(1 + int(size * size * 8))
            else:
                volume = float(1 + int(size * size * 300))
            price = pricer.round(pricer.at(moment))
            ticks.append((moment, price, price, price, price, volume))
            if len(ticks) >= count:
                ticks.reverse()
                return tuple(ticks)
    ticks.reverse()
    return tuple(ticks)
