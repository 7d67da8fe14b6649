"""The symbol catalogue: every listed instrument, and lookup by code."""

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

from sandbox.synth.sessions import (
    CME_GLOBEX,
    COMEX_METALS,
    CRYPTO,
    FOREX,
    US_BONDS,
    US_EQUITY,
)
from sandbox.synth.symbols import FuturesRoot, Symbol, continuous_contract, contract
from sandbox.synth.walk import Walk


def _w(name: str, price: float, sigma: float, growth: float = 0.0) -> Walk:
    return Walk(name, price, sigma, growth)


_D = dt.date
_QUARTERS = (2, 5, 8, 11)
_EARNINGS = (1, 4, 7, 10)


def _stock(code: str, name: str, walk: Walk, **fields: Any) -> Symbol:
    fields.setdefault("tick", 0.01)
    fields.setdefault("currency", "USD")
    fields.setdefault("country", "US")
    fields.setdefault("type", "stock")
    fields.setdefault("session", US_EQUITY)
    fields.setdefault("earnings_months", _EARNINGS)
    return Symbol(code=code, name=name, walk=walk, **fields)


STOCKS = (
    _stock(
        "NASDAQ:AAPL",
        "Apple Inc.",
        _w("AAPL", 240, 0.016, 0.12),
        minute_volume=120_000,
        listed=_D(1980, 12, 12),
        sector="Technology",
        industry="Consumer Electronics",
        shares=14.84e9,
        dividend_yield=0.0045,
        dividend_months=_QUARTERS,
    ),
    _stock(
        "NASDAQ:MSFT",
        "Microsoft Corporation",
        _w("MSFT", 450, 0.014, 0.11),
        minute_volume=55_000,
        listed=_D(1986, 3, 13),
        sector="Technology",
        industry="Software",
        shares=7.43e9,
        dividend_yield=0.0075,
        dividend_months=_QUARTERS,
    ),
    _stock(
        "NYSE:TSLA",
        "Tesla, Inc.",
        _w("TSLA", 380, 0.035, 0.25),
        minute_volume=230_000,
        listed=_D(2010, 6, 29),
        sector="Consumer Cyclical",
        industry="Auto Manufacturers",
        shares=3.22e9,
    ),
    _stock(
        "NASDAQ:NVDA",
        "NVIDIA Corporation",
        _w("NVDA", 150, 0.03, 0.2),
        minute_volume=500_000,
        listed=_D(1999, 1, 22),
        sector="Technology",
        industry="Semiconductors",
        shares=24.4e9,
        dividend_yield=0.0003,
        dividend_months=(3, 6, 9, 12),
    ),
    _stock(
        "NYSE:JPM",
        "JPMorgan Chase & Co.",
        _w("JPM", 250, 0.015, 0.09),
        minute_volume=25_000,
        listed=_D(1980, 3, 17),
        sector="Financial Services",
        industry="Banks",
        shares=2.8e9,
        dividend_yield=0.021,
        dividend_months=(1, 4, 7, 10),
    ),
    _stock(
        "AMEX:SPY",
        "SPDR S&P 500 ETF Trust",
        _w("SPX", 620, 0.01, 0.08),
        type="etf",
        minute_volume=150_000,
        listed=_D(1993, 1, 29),
        industry="Large Blend",
        shares=0.93e9,
        dividend_yield=0.012,
        dividend_months=(3, 6, 9, 12),
        earnings_months=(),
    ),
    _stock(
        "NASDAQ:QQQ",
        "Invesco QQQ Trust, Series 1",
        _w("NDX", 540, 0.013, 0.1),
        type="etf",
        minute_volume=90_000,
        listed=_D(1999, 3, 10),
        industry="Large Growth",
        shares=0.65e9,
        dividend_yield=0.006,
        dividend_months=(3, 6, 9, 12),
        earnings_months=(),
    ),
)


# Index futures follow the index ETFs' walks at the index's scale.
_NQ_SCALE = 21_500 / 540
_ES_SCALE = 6_200 / 620
FUTURES_ROOTS: Mapping[str, FuturesRoot] = {
    root.code: root
    for root in (
        FuturesRoot(
            "CME_MINI:NQ",
            "E-mini Nasdaq-100 Futures",
            _w("NDX", 540 * _NQ_SCALE, 0.013, 0.1),
            "HMUZ",
            0.25,
            20,
            450,
            CME_GLOBEX,
            0.03,
            "third_friday",
            8,
            _D(2000, 1, 3),
        ),
        FuturesRoot(
            "CME_MINI:MNQ",
            "Micro E-mini Nasdaq-100 Futures",
            _w("NDX", 540 * _NQ_SCALE, 0.013, 0.1),
            "HMUZ",
            0.25,
            2,
            1_600,
            CME_GLOBEX,
            0.03,
            "third_friday",
            8,
            _D(2019, 5, 6),
        ),
        FuturesRoot(
            "CME_MINI:ES",
            "E-mini S&P 500 Futures",
            _w("SPX", 620 * _ES_SCALE, 0.01, 0.08),
            "HMUZ",
            0.25,
            50,
            1_200,
            CME_GLOBEX,
            0.03,
            "third_friday",
            8,
            _D(2000, 1, 3),
        ),
        FuturesRoot(
            "COMEX:GC",
            "Gold Futures",
            _w("GOLD", 3_300, 0.011, 0.06),
            "GJMQVZ",
            0.1,
            100,
            180,
            COMEX_METALS,
            0.045,
            "third_last_business_day",
            30,
            _D(2000, 1, 3),
        ),
    )
}


_OTHERS = (
    Symbol(
        "BINANCE:BTCUSDT",
        "Bitcoin / TetherUS",
        "crypto",
        CRYPTO,
        "USDT",
        "",
        _w("BTC", 95_000, 0.03, 0.45),
        0.01,
        12.0,
        _D(2017, 8, 17),
        basis=0.0004,
    ),
    Symbol(
        "COINBASE:BTC-USD",
        "Bitcoin / US Dollar",
        "crypto",
        CRYPTO,
        "USD",
        "",
        _w("BTC", 95_000, 0.03, 0.45),
        0.01,
        4.0,
        _D(2015, 1, 14),
        basis=0.0004,
    ),
    Symbol(
        "BINANCE:ETHUSDT",
        "Ethereum / TetherUS",
        "crypto",
        CRYPTO,
        "USDT",
        "",
        _w("ETH", 3_300, 0.04, 0.35),
        0.01,
        150.0,
        _D(2017, 8, 17),
        basis=0.0005,
    ),
    Symbol(
        "FX:EURUSD",
        "Euro / U.S. Dollar",
        "forex",
        FOREX,
        "USD",
        "",
        _w("EURUSD", 1.12, 0.005),
        0.00001,
        900.0,
        _D(1999, 1, 4),
    ),
    Symbol(
        "FX:USDJPY",
        "U.S. Dollar / Japanese Yen",
        "forex",
        FOREX,
        "JPY",
        "",
        _w("USDJPY", 150, 0.006),
        0.001,
        800.0,
        _D(1999, 1, 4),
    ),
    Symbol(
        "TVC:US10Y",
        "US Government Bonds 10 YR Yield",
        "bond",
        US_BONDS,
        "USD",
        "US",
        _w("US10Y", 4.2, 0.02),
        0.001,
        0.0,
        _D(2000, 1, 3),
    ),
    Symbol(
        "TVC:US02Y",
        "US Government Bonds 2 YR Yield",
        "bond",
        US_BONDS,
        "USD",
        "US",
        _w("US02Y", 3.8, 0.025),
        0.001,
        0.0,
        _D(2000, 1, 3),
    ),
)


_FIXED: dict[str, Symbol] = {s.code: s for s in (*STOCKS, *_OTHERS)}
for _root in FUTURES_ROOTS.values():
    _FIXED[f"{_root.code}1!"] = continuous_contract(_root)
_FIXED["CME_MINI:NQH2025"] = contract(FUTURES_ROOTS["CME_MINI:NQ"], "H", 2025)
SYMBOLS: Mapping[str, Symbol] = _FIXED

_CONTRACT_CODE = re.compile(
    r"^(?P<root>[A-Z_]+:[A-Z]+?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{4})$"
)


@functools.lru_cache(maxsize=1024)
def lookup(code: str) -> Symbol | None:
    """The symbol for an `EXCHANGE:TICKER` code (any case), including any dated contract
    of a listed futures root (`CME_MINI:ESZ2026`); None when unknown."""
    code = code.strip().upper()
    found = SYMBOLS.get(code)
    if found is not None:
        return found
    match = _CONTRACT_CODE.match(code)
    if match is None:
        return None
    root = FUTURES_ROOTS.get(match["root"])
    year = int(match["year"])
    if root is None or match["month"] not in root.months or not 2000 <= year <= 2100:
        return None
    return contract(root, match["month"], year)


@functools.cache
def searchable() -> tuple[Symbol, ...]:
    return tuple(sorted(SYMBOLS.values(), key=lambda s: s.code))
