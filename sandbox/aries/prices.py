"""Prices the simulated brokerage trades at: `sandbox.synth`'s last price for the
symbol (what the market data API quotes at the same second), or a price the control API
set on top of it for tests.

Aries names equities by ticker ("AAPL"); synth by exchange code ("NASDAQ:AAPL"). Every
synth stock and ETF is tradable under its ticker; either form is accepted.
"""

import bisect
import functools
from collections.abc import Mapping
from decimal import Decimal

from sandbox.synth import quotes
from sandbox.synth.catalogue import lookup, searchable
from sandbox.synth.symbols import Symbol

__all__ = ["Prices", "quote_change", "ticker_of", "tradable"]


@functools.cache
def _by_ticker() -> Mapping[str, Symbol]:
    return {
        symbol.ticker: symbol
        for symbol in searchable()
        if symbol.type in ("stock", "etf")
    }


def tradable(name: str) -> Symbol | None:
    """The synth symbol a ticker (or "EXCHANGE:TICKER" code) trades as; None when the
    brokerage does not know it."""
    if not isinstance(name, str) or not name.strip():
        return None
    wanted = name.strip().upper()
    found = _by_ticker().get(wanted)
    if found is not None:
        return found
    symbol = lookup(wanted)
    if symbol is not None and _by_ticker().get(symbol.ticker) is symbol:
        return symbol
    return None


def ticker_of(name: str) -> str:
    """The Aries name of a symbol: "NASDAQ:AAPL" -> "AAPL"; other names upper-cased."""
    symbol = tradable(name)
    return symbol.ticker if symbol is not None else name.strip().upper()


def _synth_price(symbol: Symbol, t: float) -> Decimal:
    last = quotes.quote(symbol, t)["last_price"]
    return Decimal(f"{last:.{symbol.decimals}f}")


def quote_change(symbol: Symbol, t: float) -> tuple[str, str]:
    """The day's change and change percent as Aries shows them: "+2.35", "-0.98"."""
    quote = quotes.quote(symbol, t)
    change = Decimal(f"{quote['change']:.{symbol.decimals}f}")
    percent = Decimal(f"{quote['change_percent']:.2f}")
    return f"{change:+f}", f"{percent:+f}"


class Prices:
    """Synth prices with overrides. An override holds from the moment it is set until
    it is cleared; its history is kept so past prices (P&L candles) stay what they
    were."""

    def __init__(self) -> None:
        # ticker -> (times, prices): price[i] holds from times[i]; None is synth's.
        self._overrides: dict[str, tuple[list[float], list[Decimal | None]]] = {}

    def set(self, ticker: str, price: Decimal | None, at: float) -> None:
        times, prices = self._overrides.setdefault(ticker, ([], []))
        # Moments only move forward; a second change at the same instant wins.
        if times and times[-1] >= at:
            at = times[-1]
            prices[-1] = price
            return
        times.append(at)
        prices.append(price)

    def override(self, ticker: str, t: float) -> Decimal | None:
        found = self._overrides.get(ticker)
        if found is None:
            return None
        times, prices = found
        i = bisect.bisect_right(times, t)
        return prices[i - 1] if i else None

    def at(self, ticker: str, t: float) -> Decimal:
        """The price of a tradable ticker at Unix time `t`."""
        price = self.override(ticker, t)
        if price is not None:
            return price
        symbol = tradable(ticker)
        if symbol is None:
            raise KeyError(ticker)
        return _synth_price(symbol, t)

    def overrides_json(self, t: float) -> dict[str, str]:
        shown = {}
        for ticker in sorted(self._overrides):
            price = self.override(ticker, t)
            if price is not None:
                shown[ticker] = format(price, "f")
        return shown
