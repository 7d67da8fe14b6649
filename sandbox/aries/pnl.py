"""P&L candles of the `pnl` topic: the account's equity (cash + Σ qty × price, the
balance's `totalEquity`) sampled per candle, from its fills and the prices of the
time (`sandbox.aries.prices`, so overrides in force then count).

A candle's `t` is its start in Unix seconds, aligned to the interval (second, minute
and hour candles to the epoch, `1d` to 00:00 UTC, `1mo` to the 1st 00:00 UTC); its `c`
is the equity at its last instant, or now for the candle in progress, as a decimal
string like every other amount. The initial series runs from `startTime` (or the
account's opening, whichever is later) to now, at most MAX_CANDLES candles (the most
recent).
"""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from sandbox.aries.accounts import Account
from sandbox.aries.money import fmt

__all__ = ["DEFAULT_INTERVAL", "INTERVALS", "MAX_CANDLES", "align", "series"]

INTERVALS = ("15s", "1m", "5m", "15m", "1h", "1d", "1mo")
DEFAULT_INTERVAL = "1m"
_SECONDS = {"15s": 15, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86_400}
MAX_CANDLES = 1_000
# A closed candle's close is the equity this long before its end.
LAST_INSTANT = 0.001

PriceAt = Callable[[str, float], Decimal]


def align(t: float, interval: str) -> int:
    """The start of the candle holding `t`."""
    seconds = _SECONDS.get(interval)
    if seconds is not None:
        return int(t // seconds * seconds)
    moment = dt.datetime.fromtimestamp(t, dt.UTC)
    return int(dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC).timestamp())


def following(start: int, interval: str) -> int:
    """The start of the candle after the one starting at `start`."""
    seconds = _SECONDS.get(interval)
    if seconds is not None:
        return start + seconds
    moment = dt.datetime.fromtimestamp(start, dt.UTC)
    year, month = (
        (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    )
    return int(dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp())


def current(
    account: Account, interval: str, now: float, price_at: PriceAt
) -> tuple[int, str]:
    """The candle in progress: its start and the equity now."""
    return align(now, interval), fmt(account.equity_at(now, price_at))


def series(
    account: Account, interval: str, start: float, now: float, price_at: PriceAt
) -> tuple[list[int], list[str]]:
    """Candle starts and closes from `start` to now."""
    first = align(max(start, account.created_at), interval)
    last = align(now, interval)
    seconds = _SECONDS.get(interval)
    if seconds is not None:
        first = max(first, last - (MAX_CANDLES - 1) * seconds)
    starts: list[int] = []
    t = first
    while t <= last:
        starts.append(t)
        t = following(t, interval)
    starts = starts[-MAX_CANDLES:]
    closes = []
    for candle in starts:
        end = following(candle, interval)
        moment = now if end > now else end - LAST_INSTANT
        closes.append(fmt(account.equity_at(moment, price_at)))
    return starts, closes
