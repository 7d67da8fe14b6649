"""The price walk: a deterministic fractal random walk that can be evaluated at any
instant in constant time. Symbols quoting one underlying share a walk and so move
together (NQ1!, MNQ1!, NQH2025; BTC on two venues)."""

import dataclasses
import math

from sandbox.synth.epoch import DAY, YEAR
from sandbox.synth.noise import mix, seed_of

# The walk's level is anchored here (2026-01-01T00:00:00Z); `growth` compounds from it.
REFERENCE = 1_767_225_600


# Value-noise octaves from 4 s to ~2 years, amplitude ∝ √period: the sum behaves like a
# random walk (increments over h seconds have a spread ∝ √h) that reverts over years.
_PERIODS = tuple(4 * 8**k for k in range(9))
_AMPLITUDES = tuple(math.sqrt(p / DAY) for p in _PERIODS)
_INVERSE_PERIODS = tuple(1 / p for p in _PERIODS)
_OCTAVES = range(len(_PERIODS))
_TO_SIGNED = 2.0**-52  # 53 random bits to [0, 2)
# Measured: one day's increment of the unscaled sum has a standard deviation of 0.68, so
# this makes `sigma` the daily standard deviation of log returns.
_NORM = 1 / 0.68


@dataclasses.dataclass(frozen=True, slots=True)
class Walk:
    name: str
    price: float  # level around REFERENCE
    sigma: float  # daily standard deviation of log returns
    growth: float = 0.0  # annual drift of the log level


class WalkPath:
    """One walk evaluated at many instants; remembers the lattice values it last used,
    so a run of nearby instants (a series) hashes little."""

    __slots__ = ("_scale", "_price", "_growth", "_seeds", "_index", "_left", "_right")

    def __init__(self, walk: Walk) -> None:
        seed = seed_of("walk", walk.name)
        self._scale = walk.sigma * _NORM
        self._price = walk.price
        self._growth = walk.growth / YEAR
        self._seeds = [mix(seed, k) for k in range(len(_PERIODS))]
        self._index = [-2] * len(_PERIODS)  # lattice index each octave last used
        self._left = [0.0] * len(_PERIODS)
        self._right = [0.0] * len(_PERIODS)

    def __call__(self, t: float) -> float:
        x = 0.0
        index, left, right, seeds = self._index, self._left, self._right, self._seeds
        for k in _OCTAVES:
            q = t * _INVERSE_PERIODS[k]
            i = int(q)  # times are positive: int() is floor()
            known = index[k]
            if i != known:
                seed = seeds[k]
                if i == known - 1:
                    right[k] = left[k]
                    left[k] = (mix(seed, i) >> 11) * _TO_SIGNED - 1
                elif i == known + 1:
                    left[k] = right[k]
                    right[k] = (mix(seed, i + 1) >> 11) * _TO_SIGNED - 1
                else:
                    left[k] = (mix(seed, i) >> 11) * _TO_SIGNED - 1
                    right[k] = (mix(seed, i + 1) >> 11) * _TO_SIGNED - 1
                index[k] = i
            a = left[k]
            x += _AMPLITUDES[k] * (a + (right[k] - a) * (q - i))
        return self._price * math.exp(self._scale * x + self._growth * (t - REFERENCE))
