"""Bars: the tuple `(time, open, high, low, close, volume)`, bar sizes and their labels,
and what every kind of bar shares (its noise seed, volume rounding, the cache of
closed bars). Bar times are aligned to the bar size: second, minute and hour bars to
the Unix epoch, day bars to 00:00 UTC of the session date, week bars to Monday, month
bars to the 1st. A bar's values do not depend on when it is asked for (only the bar in
progress moves), and bar sizes agree where their boundaries meet."""

import collections
import functools
import threading
from collections.abc import Callable
from typing import Any

from sandbox.synth.noise import seed_of
from sandbox.synth.symbols import Symbol

Bar = tuple[float, float, float, float, float, float]

BAR_SECONDS = {"second": 1, "minute": 60, "hour": 3600}
BAR_TYPES = ("tick", "second", "minute", "hour", "day", "week", "month")
_BAR_SUFFIX = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "W"}
_BAR_SUFFIX["month"] = "M"


def bar_label(bar_type: str, interval: int) -> str:
    """How responses name a bar size: "1m", "5m", "1h", "1d", "1W", "1M", "tick"."""
    if bar_type == "tick":
        return "tick"
    return f"{interval}{_BAR_SUFFIX[bar_type]}"


class BarCache:
    """Least recently used series of closed bars, bounded by the bars it holds rather
    than by entries: a 30,000-bar series weighs a few megabytes. Thread-safe (heavy
    requests are computed in worker threads)."""

    def __init__(self, max_bars: int) -> None:
        self.max_bars = max_bars
        self._bars = 0
        self._entries: collections.OrderedDict[tuple, tuple[Bar, ...]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def __call__(
        self, fn: Callable[..., tuple[Bar, ...]]
    ) -> Callable[..., tuple[Bar, ...]]:
        @functools.wraps(fn)
        def cached(*key: Any) -> tuple[Bar, ...]:
            with self._lock:
                found = self._entries.get(key)
                if found is not None:
                    self._entries.move_to_end(key)
                    return found
            bars = fn(*key)
            with self._lock:
                if key not in self._entries:
                    self._entries[key] = bars
                    self._bars += len(bars)
                while self._bars > self.max_bars and len(self._entries) > 1:
                    _, evicted = self._entries.popitem(last=False)
                    self._bars -= len(evicted)
            return bars

        return cached


# About 150 MB at most across the intraday and daily caches.
CACHED_BARS = 300_000


@functools.cache
def bar_seed(code: str) -> int:
    return seed_of("bars", code)


def round_volume(symbol: Symbol, volume: float) -> float:
    if symbol.type == "crypto":
        return round(volume, 4)
    return float(round(volume))
