"""Prices of a symbol at any instant: its walk, a venue's basis, futures carry, and the
adjustments for dividends and the continuous contract's rolls."""

import bisect
import datetime as dt
import functools

from sandbox.synth.catalogue import FUTURES_ROOTS, lookup
from sandbox.synth.epoch import DAY, YEAR, day_epoch
from sandbox.synth.sessions import us_holidays
from sandbox.synth.symbols import Symbol, contracts_of
from sandbox.synth.walk import Walk, WalkPath

LAST_CONTRACT_YEAR = 2100


@functools.cache
def _rolls(root_code: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Roll times and expiry times (Unix seconds) of every contract of a root: the
    continuous contract holds each one until its roll time."""
    root = FUTURES_ROOTS[root_code]
    expiries = []
    for contract in contracts_of(root, root.since.year, LAST_CONTRACT_YEAR):
        assert contract.expiry is not None
        expiries.append(day_epoch(contract.expiry) + DAY)
    return tuple(e - root.roll_days * DAY for e in expiries), tuple(expiries)


class Pricer:
    """Raw and adjusted prices of one symbol. Adjustments (dividends with `dadj`, the
    continuous contract's rolls with `backadjust`) are for events up to `now`."""

    def __init__(
        self,
        symbol: Symbol,
        now: float,
        *,
        dadj: bool = False,
        backadjust: bool = False,
    ) -> None:
        self.symbol = symbol
        self._path = WalkPath(symbol.walk)
        self._basis = (
            WalkPath(Walk(f"basis:{symbol.code}", 1.0, symbol.basis))
            if symbol.basis
            else None
        )
        self._quantum = 10**symbol.decimals
        self._steps = round(symbol.tick * self._quantum)
        self._roll_times: tuple[int, ...] = ()
        self._expiries: tuple[int, ...] = ()
        self._offsets: list[float] = []  # back-adjustment added before each roll
        self._factors: list[
            float
        ] = []  # dividend adjustment applied before each ex-date
        self._events: list[int] = []
        self._memo = [-1.0, 0.0] * 3  # (time, price) of the last three prices asked
        root = symbol.root
        if root is not None and symbol.continuous:
            self._roll_times, self._expiries = _rolls(root.code)
            if backadjust:
                self._events = [roll for roll in self._roll_times if roll <= now]
                gaps = []
                for i, roll in enumerate(self._events):
                    # The step up from the expiring contract to the next at the roll.
                    spread = (self._expiries[i + 1] - self._expiries[i]) / YEAR
                    gaps.append(self._path(roll) * root.carry * spread)
                self._offsets = _suffix_sums(gaps)
        if dadj and symbol.dividend_yield:
            self._events = [e for e in _ex_dividend_epochs(symbol.code) if e <= now]
            factor = 1 - symbol.dividend_yield / len(symbol.dividend_months)
            count = len(self._events)
            self._factors = [factor ** (count - i) for i in range(count)]

    @property
    def adjusted_until(self) -> int:
        """The time of the latest adjustment event applied (0: none). A Pricer built
        with this as `now` adjusts exactly the same way: use it in cache keys."""
        return self._events[-1] if self._events else 0

    def raw(self, t: float) -> float:
        price = self._path(t)
        if self._basis is not None:
            price *= self._basis(t)
        symbol = self.symbol
        if symbol.root is not None:
            if symbol.continuous:
                i = bisect.bisect_right(self._roll_times, t)
                expiry = self._expiries[min(i, len(self._expiries) - 1)]
            else:
                assert symbol.expiry is not None
                expiry = day_epoch(symbol.expiry) + DAY
            price *= 1 + symbol.root.carry * max(0.0, expiry - t) / YEAR
        return price

    def at(self, t: float) -> float:
        """The (adjusted, unrounded) price at `t`."""
        # Adjacent bars share a boundary, so most calls repeat one of the last three.
        memo = self._memo
        for i in (0, 2, 4):
            if memo[i] == t:
                return memo[i + 1]
        price = self._adjusted(t)
        memo[2:6] = memo[0:4]
        memo[0] = t
        memo[1] = price
        return price

    def _adjusted(self, t: float) -> float:
        price = self.raw(t)
        if self._offsets:
            i = bisect.bisect_right(self._events, t)
            if i < len(self._offsets):
                price += self._offsets[i]
        elif self._factors:
            i = bisect.bisect_right(self._events, t)
            if i < len(self._factors):
                price *= self._factors[i]
        return price

    def round(self, price: float) -> float:
        steps = self._steps
        return round(price * self._quantum / steps) * steps / self._quantum


def _suffix_sums(values: list[float]) -> list[float]:
    """sums[i] = values[i] + values[i + 1] + ..."""
    sums = [0.0] * len(values)
    total = 0.0
    for i in range(len(values) - 1, -1, -1):
        total += values[i]
        sums[i] = total
    return sums


def ex_dividend_dates(symbol: Symbol, until: float) -> list[dt.date]:
    """Ex-dividend dates (the 10th of each dividend month, or the next trading day)
    after listing, up to `until`."""
    last = dt.datetime.fromtimestamp(until, dt.UTC).date()
    return [day for day in _ex_dividend_days(symbol.code) if day <= last]


@functools.cache
def _ex_dividend_days(code: str) -> tuple[dt.date, ...]:
    symbol = lookup(code)
    assert symbol is not None
    dates = []
    for year in range(symbol.listed.year, LAST_CONTRACT_YEAR + 1):
        for month in symbol.dividend_months:
            day = dt.date(year, month, 10)
            while day.weekday() > 4 or day in us_holidays(year):
                day += dt.timedelta(days=1)
            if day > symbol.listed:
                dates.append(day)
    return tuple(dates)


@functools.cache
def _ex_dividend_epochs(code: str) -> tuple[int, ...]:
    return tuple(day_epoch(day) for day in _ex_dividend_days(code))
