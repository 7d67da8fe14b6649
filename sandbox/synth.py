"""Synthetic market data for the sandbox's InsightSentry REST API.

Pure functions of (symbol, parameters, `now`): no I/O, no clock reads, no shared random
state. Every price comes from a deterministic fractal random walk that can be evaluated
at any instant in constant time, so

- a bar's values do not depend on when it is asked for (only the bar in progress moves),
- bar sizes agree where their boundaries meet (a 1h bar opens where its first 1m bar does),
- symbols quoting one underlying move together (NQ1!, MNQ1!, NQH2025; BTC on two venues).

Times are Unix seconds (UTC) unless a name says otherwise. A bar is a tuple
`(time, open, high, low, close, volume)`; bar times are aligned to the bar size (second,
minute and hour bars to the Unix epoch, day bars to 00:00 UTC of the session date, week
bars to Monday, month bars to the 1st). Session hours, weekends and exchange holidays are
respected: a US stock has no bars on a Saturday, bitcoin has.
"""

import bisect
import calendar
import collections
import dataclasses
import datetime as dt
import decimal
import functools
import hashlib
import itertools
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

Bar = tuple[float, float, float, float, float, float]

DAY = 86_400
YEAR = 365.25 * DAY
# The walk's level is anchored here (2026-01-01T00:00:00Z); `growth` compounds from it.
REFERENCE = 1_767_225_600
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
# The Monday on or before the epoch, which week bars are aligned to.
MONDAY_ORDINAL = EPOCH_ORDINAL - 3

BAR_SECONDS = {"second": 1, "minute": 60, "hour": 3600}
BAR_TYPES = ("tick", "second", "minute", "hour", "day", "week", "month")
_BAR_SUFFIX = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "W"}
_BAR_SUFFIX["month"] = "M"


def bar_label(bar_type: str, interval: int) -> str:
    """How responses name a bar size: "1m", "5m", "1h", "1d", "1W", "1M", "tick"."""
    if bar_type == "tick":
        return "tick"
    return f"{interval}{_BAR_SUFFIX[bar_type]}"


# --- deterministic noise --------------------------------------------------------------

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_TO_UNIT = 2.0**-53


def _seed(*parts: object) -> int:
    text = "|".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _hash(seed: int, i: int) -> int:
    """splitmix64 of (seed, i): fast, well mixed, the same on every platform."""
    z = (seed + i * _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _unit(seed: int, i: int) -> float:
    """Uniform in [0, 1)."""
    return (_hash(seed, i) >> 11) * _TO_UNIT


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


class _Path:
    """One walk evaluated at many instants; remembers the lattice values it last used,
    so a run of nearby instants (a series) hashes little."""

    __slots__ = ("_scale", "_price", "_growth", "_seeds", "_index", "_left", "_right")

    def __init__(self, walk: Walk) -> None:
        seed = _seed("walk", walk.name)
        self._scale = walk.sigma * _NORM
        self._price = walk.price
        self._growth = walk.growth / YEAR
        self._seeds = [_hash(seed, k) for k in range(len(_PERIODS))]
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
                    left[k] = (_hash(seed, i) >> 11) * _TO_SIGNED - 1
                elif i == known + 1:
                    left[k] = right[k]
                    right[k] = (_hash(seed, i + 1) >> 11) * _TO_SIGNED - 1
                else:
                    left[k] = (_hash(seed, i) >> 11) * _TO_SIGNED - 1
                    right[k] = (_hash(seed, i + 1) >> 11) * _TO_SIGNED - 1
                index[k] = i
            a = left[k]
            x += _AMPLITUDES[k] * (a + (right[k] - a) * (q - i))
        return self._price * math.exp(self._scale * x + self._growth * (t - REFERENCE))


# --- sessions and holidays ------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    """Trading hours in local minutes after midnight of the session date. An open at or
    after the close means the session opens the evening before (Globex, FX)."""

    name: str
    timezone: str
    regular: tuple[int, int]
    extended: tuple[int, int]
    weekdays: frozenset[int]  # session dates that trade; Monday = 0
    holidays: str  # "us" (NYSE calendar), "fx" (Jan 1, Dec 25) or "" (none)
    settlement: int | None = None  # local minute of the daily settlement (futures)

    def hours(self, extended: bool) -> str:
        start, end = self.extended if extended else self.regular
        return f"{_hhmm(start)}-{_hhmm(end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}{minutes % 60:02d}"


WEEKDAYS = frozenset(range(5))
US_EQUITY = Session(
    "us_equity", "America/New_York", (570, 960), (240, 1200), WEEKDAYS, "us"
)
CME_GLOBEX = Session(
    "cme_globex", "America/Chicago", (1020, 960), (1020, 960), WEEKDAYS, "us", 900
)
COMEX_METALS = Session(
    "comex", "America/Chicago", (1020, 960), (1020, 960), WEEKDAYS, "us", 810
)
CRYPTO = Session("crypto", "UTC", (0, 1440), (0, 1440), frozenset(range(7)), "")
FOREX = Session("fx", "America/New_York", (1020, 1020), (1020, 1020), WEEKDAYS, "fx")
US_BONDS = Session(
    "us_bonds", "America/New_York", (1200, 1020), (1200, 1020), WEEKDAYS, "us"
)
SESSIONS = {
    s.name: s for s in (US_EQUITY, CME_GLOBEX, COMEX_METALS, CRYPTO, FOREX, US_BONDS)
}


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th (1-based; -1 = last) given weekday of a month."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return dt.date(year, month, day + 1)


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


@functools.cache
def us_holidays(year: int) -> frozenset[dt.date]:
    """NYSE full-day closures by rule (the one-off closures are left out)."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - dt.timedelta(days=2),  # Good Friday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _observed(dt.date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(dt.date(year, 12, 25)),
    }
    new_year = dt.date(year, 1, 1)
    # NYSE does not close on Friday Dec 31 for a Saturday New Year's Day.
    if new_year.weekday() != 5:
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(dt.date(year, 6, 19)))  # Juneteenth
    return frozenset(days)


def is_holiday(session: Session, day: dt.date) -> bool:
    if session.holidays == "us":
        return day in us_holidays(day.year)
    if session.holidays == "fx":
        return (day.month, day.day) in ((1, 1), (12, 25))
    return False


def _local_epoch(day: dt.date, minutes: int, tz: ZoneInfo) -> int:
    extra, minutes = divmod(minutes, 1440)
    day = day + dt.timedelta(days=extra)
    local = dt.datetime(
        day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz
    )
    return int(local.timestamp())


@functools.lru_cache(maxsize=1 << 17)
def session_window(
    session_name: str, ordinal: int, extended: bool
) -> tuple[int, int] | None:
    """[open, close) in Unix seconds of the session dated `ordinal`, or None if that date
    does not trade."""
    session = SESSIONS[session_name]
    day = dt.date.fromordinal(ordinal)
    if day.weekday() not in session.weekdays or is_holiday(session, day):
        return None
    start, end = session.extended if extended else session.regular
    tz = ZoneInfo(session.timezone)
    opens_on = day - dt.timedelta(days=1) if start >= end else day
    return _local_epoch(opens_on, start, tz), _local_epoch(day, end, tz)


def local_ordinal(session: Session, t: float) -> int:
    return dt.datetime.fromtimestamp(t, ZoneInfo(session.timezone)).date().toordinal()


def current_session(
    session: Session, t: float, *, extended: bool = True, floor: int = 0
) -> tuple[int, tuple[int, int]] | None:
    """The latest session (date ordinal, window) that has opened by `t`."""
    ordinal = local_ordinal(session, t) + 1
    for day in range(ordinal, max(floor, ordinal - 30) - 1, -1):
        window = session_window(session.name, day, extended)
        if window is not None and window[0] <= t:
            return day, window
    return None


def next_sessions(
    session: Session, t: float, count: int
) -> list[tuple[int, tuple[int, int]]]:
    """The next `count` sessions that close after `t`, oldest first."""
    found = []
    day = local_ordinal(session, t) - 1
    while len(found) < count and day < local_ordinal(session, t) + 60:
        window = session_window(session.name, day, True)
        if window is not None and window[1] > t:
            found.append((day, window))
        day += 1
    return found


# --- the symbol universe --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FuturesRoot:
    code: str  # "CME_MINI:NQ"
    name: str
    walk: Walk
    months: str  # contract month codes it lists, e.g. "HMUZ"
    tick: float
    point_value: float
    minute_volume: float
    session: Session
    carry: float  # annual cost of carry of a contract over the walk
    expiry_rule: str  # "third_friday" or "third_last_business_day"
    roll_days: int  # the continuous contract moves on this many days before expiry
    since: dt.date


@dataclasses.dataclass(frozen=True, slots=True)
class Symbol:
    code: str
    name: str
    type: str  # stock, etf, futures, crypto, forex, bond
    session: Session
    currency: str
    country: str
    walk: Walk
    tick: float
    minute_volume: float  # typical volume of one regular-hours minute
    listed: dt.date  # first session with data
    sector: str = ""
    industry: str = ""
    shares: float = 0.0  # shares outstanding (stocks, ETFs)
    dividend_yield: float = 0.0  # annual, paid quarterly
    dividend_months: tuple[int, ...] = ()
    earnings_months: tuple[int, ...] = ()
    root: FuturesRoot | None = None
    expiry: dt.date | None = None  # a dated futures contract's last session
    continuous: bool = False
    basis: float = 0.0  # relative daily spread of this venue around its walk
    description: str = ""

    @property
    def exchange(self) -> str:
        return self.code.partition(":")[0]

    @property
    def ticker(self) -> str:
        return self.code.partition(":")[2]

    @property
    def decimals(self) -> int:
        """Decimal places of a price (0.25 -> 2, 0.00001 -> 5)."""
        return _decimals(self.tick)


@functools.cache
def _decimals(tick: float) -> int:
    exponent = decimal.Decimal(repr(tick)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


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


_STOCKS = (
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

_NQ = _w("NDX", 540, 0.013, 0.1)
_ES = _w("SPX", 620, 0.01, 0.08)
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
MONTH_CODES = "FGHJKMNQUVXZ"

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


def _third_last_business_day(year: int, month: int) -> dt.date:
    day = dt.date(year, month, calendar.monthrange(year, month)[1])
    seen = 0
    while True:
        if day.weekday() < 5 and day not in us_holidays(year):
            seen += 1
            if seen == 3:
                return day
        day -= dt.timedelta(days=1)


def contract_expiry(root: FuturesRoot, year: int, month: int) -> dt.date:
    if root.expiry_rule == "third_friday":
        day = _nth_weekday(year, month, 4, 3)
        while day in us_holidays(year):
            day -= dt.timedelta(days=1)
        return day
    return _third_last_business_day(year, month)


def _contract(root: FuturesRoot, month_code: str, year: int) -> Symbol:
    month = MONTH_CODES.index(month_code) + 1
    expiry = contract_expiry(root, year, month)
    return Symbol(
        code=f"{root.code}{month_code}{year}",
        name=f"{root.name} ({calendar.month_abbr[month]} {year})",
        type="futures",
        session=root.session,
        currency="USD",
        country="US",
        walk=root.walk,
        tick=root.tick,
        # Dated contracts trade a fraction of the front month's volume on average.
        minute_volume=root.minute_volume / 3,
        listed=max(root.since, expiry - dt.timedelta(days=400)),
        root=root,
        expiry=expiry,
    )


def _continuous(root: FuturesRoot) -> Symbol:
    return Symbol(
        code=f"{root.code}1!",
        name=f"{root.name} (continuous: current contract in front)",
        type="futures",
        session=root.session,
        currency="USD",
        country="US",
        walk=root.walk,
        tick=root.tick,
        minute_volume=root.minute_volume,
        listed=root.since,
        root=root,
        continuous=True,
    )


_FIXED: dict[str, Symbol] = {s.code: s for s in (*_STOCKS, *_OTHERS)}
for _root in FUTURES_ROOTS.values():
    _FIXED[f"{_root.code}1!"] = _continuous(_root)
_FIXED["CME_MINI:NQH2025"] = _contract(FUTURES_ROOTS["CME_MINI:NQ"], "H", 2025)
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
    return _contract(root, match["month"], year)


def _contracts_of(root: FuturesRoot, first_year: int, last_year: int) -> list[Symbol]:
    return [
        _contract(root, month, year)
        for year in range(first_year, last_year + 1)
        for month in root.months
    ]


# --- prices ---------------------------------------------------------------------------


def day_epoch(day: dt.date) -> int:
    """00:00 UTC of a date, in Unix seconds."""
    return (day.toordinal() - EPOCH_ORDINAL) * DAY


LAST_CONTRACT_YEAR = 2100


@functools.cache
def _rolls(root_code: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Roll times and expiry times (Unix seconds) of every contract of a root: the
    continuous contract holds each one until its roll time."""
    root = FUTURES_ROOTS[root_code]
    expiries = []
    for contract in _contracts_of(root, root.since.year, LAST_CONTRACT_YEAR):
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
        self._path = _Path(symbol.walk)
        self._basis = (
            _Path(Walk(f"basis:{symbol.code}", 1.0, symbol.basis))
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


# --- bars -----------------------------------------------------------------------------

_WICK = "wick"


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
        bars = _ticks(symbol.code, count, now)
        return Series("tick", bars, bars[-1][0] if bars else None)
    pricer = Pricer(symbol, now, dadj=dadj, backadjust=backadjust)
    if bar_type in BAR_SECONDS:
        size = BAR_SECONDS[bar_type] * interval
        newest = _newest_intraday(symbol, size, now, extended)
        if newest is None:
            return Series(bar_label(bar_type, interval), (), None)
        older = _closed_intraday(
            symbol.code,
            size,
            count - 1,
            extended,
            dadj,
            backadjust,
            newest[0],
            pricer.adjusted_until,
        )
        bars = (*older, _intraday_bar(pricer, newest, now))
        return Series(bar_label(bar_type, interval), bars, newest[2] - 1)
    key = _group_key(bar_type, interval)
    newest_day = _newest_day(symbol, now)
    if newest_day is None:
        return Series(bar_label(bar_type, interval), (), None)
    newest_group = key(newest_day)
    older = _closed_daily(
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
        for d in _trading_days(symbol, newest_day, 40 * interval)
        if key(d) == newest_group
    ]
    newest = _aggregate(
        bar_type,
        newest_group,
        interval,
        [_day_bar(pricer, d, now, settlement) for d in days],
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
        _intraday_windows(symbol, size, min(end, now + 1), extended, None, start)
    )
    windows.reverse()
    windows = windows[:limit]
    bars = tuple(_intraday_bar(pricer, window, now) for window in windows)
    bar_end = windows[-1][2] - 1 if windows else None
    return Series(bar_label(bar_type, interval), bars, bar_end)


def _intraday_windows(
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


def _newest_intraday(
    symbol: Symbol, size: int, now: int, extended: bool
) -> tuple[int, int, int, bool] | None:
    return next(_intraday_windows(symbol, size, now + 1, extended, 1), None)


class _BarCache:
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


# About 150 MB at most across both caches.
_CACHED_BARS = 300_000


@_BarCache(_CACHED_BARS)
def _closed_intraday(
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
        _intraday_bar(pricer, window, before)
        for window in _intraday_windows(symbol, size, before, extended, count)
    ]
    bars.reverse()
    return tuple(bars)


def _intraday_bar(
    pricer: Pricer, window: tuple[int, int, int, bool], now: float
) -> Bar:
    start, covered_from, covered_until, regular = window
    end = covered_until if covered_until <= now else now
    elapsed = max(1, end - covered_from)
    symbol = pricer.symbol
    open_ = pricer.at(covered_from)
    close = pricer.at(end)
    seed = _seed_for(symbol.code)
    reach = symbol.walk.sigma * math.sqrt(elapsed / DAY) * 0.8
    high = max(open_, close) * (1 + reach * _unit(seed, start))
    low = min(open_, close) * (1 - reach * _unit(seed + 1, start))
    activity = 1.0 if regular else 0.08
    volume = (
        symbol.minute_volume
        * elapsed
        / 60
        * activity
        * (0.35 + 1.3 * _unit(seed + 2, start))
    )
    r = pricer.round
    return (float(start), r(open_), r(high), r(low), r(close), _volume(symbol, volume))


@functools.cache
def _seed_for(code: str) -> int:
    return _seed("bars", code)


def _volume(symbol: Symbol, volume: float) -> float:
    if symbol.type == "crypto":
        return round(volume, 4)
    return float(round(volume))


def _trading_days(symbol: Symbol, newest: int, count: int) -> list[int]:
    """Up to `count` session date ordinals ending with `newest`, newest first."""
    days = []
    ordinal = newest
    first = symbol.listed.toordinal()
    while ordinal >= first and len(days) < count:
        if session_window(symbol.session.name, ordinal, False) is not None:
            days.append(ordinal)
        ordinal -= 1
    return days


def _newest_day(symbol: Symbol, now: int) -> int | None:
    found = current_session(symbol.session, now, extended=False)
    if found is None:
        return None
    ordinal = found[0]
    if symbol.expiry is not None:
        ordinal = min(ordinal, symbol.expiry.toordinal())
    if ordinal < symbol.listed.toordinal():
        return None
    while session_window(symbol.session.name, ordinal, False) is None:
        ordinal -= 1
    return ordinal


def _group_key(bar_type: str, interval: int) -> Any:
    if bar_type == "day":
        return lambda ordinal: (ordinal - EPOCH_ORDINAL) // interval
    if bar_type == "week":
        return lambda ordinal: (ordinal - MONDAY_ORDINAL) // (7 * interval)

    def month_key(ordinal: int) -> int:
        day = dt.date.fromordinal(ordinal)
        return (day.year * 12 + day.month - 1) // interval

    return month_key


def _group_time(bar_type: str, group: int, interval: int, first_day: int) -> float:
    if bar_type == "day":
        return float(day_epoch(dt.date.fromordinal(first_day)))
    if bar_type == "week":
        return float(
            day_epoch(dt.date.fromordinal(MONDAY_ORDINAL + group * 7 * interval))
        )
    year, month = divmod(group * interval, 12)
    return float(day_epoch(dt.date(year, month + 1, 1)))


def _day_bar(pricer: Pricer, ordinal: int, now: float, settlement: bool) -> Bar:
    symbol = pricer.symbol
    window = session_window(symbol.session.name, ordinal, False)
    assert window is not None
    opens, closes = window
    end = min(closes, now)
    close_at = end
    if settlement and symbol.session.settlement is not None:
        settles = _local_epoch(
            dt.date.fromordinal(ordinal),
            symbol.session.settlement,
            ZoneInfo(symbol.session.timezone),
        )
        close_at = min(settles, end)
    seed = _seed_for(symbol.code)
    elapsed = max(1, end - opens)
    open_ = pricer.at(opens)
    close = pricer.at(close_at)
    reach = symbol.walk.sigma * math.sqrt(elapsed / DAY) * 0.9
    high = max(open_, close) * (1 + reach * _unit(seed + 3, ordinal))
    low = min(open_, close) * (1 - reach * _unit(seed + 4, ordinal))
    volume = symbol.minute_volume * elapsed / 60 * (0.5 + _unit(seed + 5, ordinal))
    r = pricer.round
    return (
        float(day_epoch(dt.date.fromordinal(ordinal))),
        r(open_),
        r(high),
        r(low),
        r(close),
        _volume(symbol, volume),
    )


def _aggregate(bar_type: str, group: int, interval: int, days: list[Bar]) -> Bar:
    """One bar from day bars (any order)."""
    days = sorted(days)
    first_day = int(days[0][0] // DAY) + EPOCH_ORDINAL
    volume = sum(day[5] for day in days)
    return (
        _group_time(bar_type, group, interval, first_day),
        days[0][1],
        max(day[2] for day in days),
        min(day[3] for day in days),
        days[-1][4],
        round(volume, 4),
    )


@_BarCache(_CACHED_BARS)
def _closed_daily(
    code: str,
    bar_type: str,
    interval: int,
    count: int,
    dadj: bool,
    backadjust: bool,
    settlement: bool,
    before_group: int,
    adjusted_until: int,
) -> tuple[Bar, ...]:
    """The `count` bars before group `before_group`: complete, so cacheable."""
    if count <= 0:
        return ()
    symbol = lookup(code)
    assert symbol is not None
    key = _group_key(bar_type, interval)
    # Start from the last session of the group before `before_group`.
    ordinal = _newest_day_before_group(symbol, key, before_group)
    if ordinal is None:
        return ()
    # Every day here has closed: price them as of any later time.
    now = float(10**12)
    pricer = Pricer(symbol, adjusted_until, dadj=dadj, backadjust=backadjust)
    bars: list[Bar] = []
    for group, days in itertools.groupby(_sessions_back(symbol, ordinal), key):
        day_bars = [_day_bar(pricer, day, now, settlement) for day in days]
        bars.append(_aggregate(bar_type, group, interval, day_bars))
        if len(bars) >= count:
            break
    bars.reverse()
    return tuple(bars)


def _sessions_back(symbol: Symbol, ordinal: int) -> Iterator[int]:
    """Trading date ordinals from `ordinal` back to the listing, newest first."""
    first = symbol.listed.toordinal()
    while ordinal >= first:
        if session_window(symbol.session.name, ordinal, False) is not None:
            yield ordinal
        ordinal -= 1


def _newest_day_before_group(symbol: Symbol, key: Any, group: int) -> int | None:
    ordinal = _first_day_of_group(key, group) - 1
    first = symbol.listed.toordinal()
    while ordinal >= first:
        if session_window(symbol.session.name, ordinal, False) is not None:
            return ordinal
        ordinal -= 1
    return None


def _first_day_of_group(key: Any, group: int) -> int:
    """The first date ordinal whose group is `group` (group keys never decrease)."""
    low, high = 1, dt.date.max.toordinal()
    while low < high:
        middle = (low + high) // 2
        if key(middle) < group:
            low = middle + 1
        else:
            high = middle
    return low


def _ticks_per_second(symbol: Symbol, regular: bool) -> int:
    if symbol.type in ("crypto", "futures"):
        return 4
    return 4 if regular else 2


@functools.lru_cache(maxsize=2)
def _ticks(code: str, count: int, now: int) -> tuple[Bar, ...]:
    """The `count` most recent trades up to `now`, as one-price bars."""
    symbol = lookup(code)
    assert symbol is not None
    pricer = Pricer(symbol, now)
    seed = _seed("ticks", code)
    ticks: list[Bar] = []
    for start, _, _, regular in _intraday_windows(symbol, 1, now + 1, True, None):
        most = _ticks_per_second(symbol, regular)
        trades = int(_unit(seed, start) * most)
        offsets = sorted(
            (_unit(seed + 1 + j, start) for j in range(trades)), reverse=True
        )
        for j, offset in enumerate(offsets):
            moment = round(start + offset, 3)
            if moment > now:
                continue
            size = _unit(seed + 9 + j, start)
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


# --- quotes ---------------------------------------------------------------------------


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
    seed = _seed_for(symbol.code)
    volume = symbol.minute_volume * elapsed / 60 * (0.5 + _unit(seed + 5, ordinal))
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
        _volume(symbol, volume),
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
    seed = _seed_for(symbol.code)
    spread = max(1, int(_unit(seed + 7, int(lp_time)) * 3)) * symbol.tick
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
        "ask_size": float(1 + int(_unit(seed + 8, int(lp_time)) * 9)),
        "bid_size": float(1 + int(_unit(seed + 9, int(lp_time)) * 9)),
        "prev_close_price": prev_close,
        "open_price": open_,
        "low_price": min(low, last),
        "high_price": max(high, last),
        "market_cap": round(symbol.shares * last, 0) if symbol.shares else None,
        "currency_code": symbol.currency,
        "delay_seconds": delay,
    }


# --- reference data -------------------------------------------------------------------


def status(symbol: Symbol, now: float) -> str:
    found = _quote_session(symbol, int(now))
    if found is None or now >= found[1][1]:
        return "CLOSED"
    regular = session_window(symbol.session.name, found[0], False)
    assert regular is not None
    if regular[0] <= now < regular[1]:
        return "OPEN"
    return "PRE_MARKET" if now < regular[0] else "POST_MARKET"


def info(symbol: Symbol, now: float) -> dict[str, Any]:
    last = quote(symbol, now)["last_price"]
    body: dict[str, Any] = {
        "code": symbol.code,
        "type": symbol.type,
        "name": symbol.name,
        "exchange": symbol.exchange,
        "currency_code": symbol.currency,
        "timezone": symbol.session.timezone,
        "country_code": symbol.country,
    }
    if symbol.sector:
        body["sector"] = symbol.sector
    if symbol.industry:
        body["industry"] = symbol.industry
    if symbol.shares:
        body["market_cap"] = round(symbol.shares * last, 0)
    body.update(
        {
            "status": status(symbol, now),
            "delay_seconds": 0,
            "price_scale": symbol.decimals,
            "min_movement": symbol.tick,
            "has_backadjustment": symbol.continuous,
            "session_regular": symbol.session.hours(False),
            "session_extended": symbol.session.hours(True),
            "first_bar_time": float(day_epoch(symbol.listed)),
        }
    )
    if symbol.root is not None:
        body["base_code"] = symbol.root.code
        body["point_value"] = symbol.root.point_value
        if symbol.expiry is not None:
            body["expiration"] = int(symbol.expiry.strftime("%Y%m%d"))
    if symbol.code in OPTIONABLE:
        body["option_info"] = {
            "expirations": [
                int(day.strftime("%Y%m%d")) for day in option_expirations(now)
            ]
        }
    return body


def session_details(symbol: Symbol, now: float) -> dict[str, Any]:
    session = symbol.session
    today = dt.datetime.fromtimestamp(now, ZoneInfo(session.timezone)).date()
    holidays = []
    for year in (today.year, today.year + 1):
        for day in sorted(_holiday_dates(session, year)):
            if day >= today and day.weekday() in session.weekdays:
                holidays.append(day.isoformat())
    upcoming = [
        {
            "date": dt.date.fromordinal(ordinal).isoformat(),
            "open": float(window[0]),
            "close": float(window[1]),
        }
        for ordinal, window in next_sessions(session, now, 5)
    ]
    return {
        "code": symbol.code,
        "timezone": session.timezone,
        "session_regular": session.hours(False),
        "session_extended": session.hours(True),
        "trading_days": [calendar.day_name[day] for day in sorted(session.weekdays)],
        "status": status(symbol, now),
        "holidays": holidays[:12],
        "corrections": [],
        "next_sessions": upcoming,
    }


def _holiday_dates(session: Session, year: int) -> Iterable[dt.date]:
    if session.holidays == "us":
        return us_holidays(year)
    if session.holidays == "fx":
        return (dt.date(year, 1, 1), dt.date(year, 12, 25))
    return ()


def contracts(symbol: Symbol, now: float) -> dict[str, Any] | None:
    root = symbol.root
    if root is None:
        return None
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    listed = [
        contract
        for contract in _contracts_of(root, today.year - 1, today.year + 2)
        if contract.expiry is not None
        and today - dt.timedelta(days=200) <= contract.expiry
        and contract.expiry <= today + dt.timedelta(days=500)
    ]
    return {
        "base_code": root.code,
        "contracts": [
            {"code": contract.code, "settlement_date": f"{contract.expiry:%Y%m%d}"}
            for contract in listed
        ],
    }


@functools.cache
def searchable() -> tuple[Symbol, ...]:
    return tuple(sorted(SYMBOLS.values(), key=lambda s: s.code))


def search(
    query: str, *, type_: str | None = None, country: str | None = None
) -> list[dict[str, Any]]:
    """Symbols matching a query: a code or name fragment, or "EXCHANGE:" for a venue."""
    query = query.strip()
    matched = []
    for symbol in searchable():
        if type_ and symbol.type != type_.lower():
            continue
        if country and symbol.country != country.upper():
            continue
        if query.endswith(":"):
            if symbol.exchange != query[:-1].upper():
                continue
        elif query and not (
            query.upper() in symbol.code or query.lower() in symbol.name.lower()
        ):
            continue
        matched.append(
            {
                "name": symbol.name,
                "code": symbol.code,
                "type": symbol.type,
                "exchange": symbol.exchange,
                "currency_code": symbol.currency,
                "country": symbol.country,
            }
        )
    return matched


_EXCHANGE_NAMES = {
    "NASDAQ": "Nasdaq Stock Market",
    "NYSE": "New York Stock Exchange",
    "AMEX": "NYSE American",
    "CME_MINI": "CME Globex (E-mini)",
    "COMEX": "COMEX (CME Group)",
    "BINANCE": "Binance",
    "COINBASE": "Coinbase",
    "FX": "Forex (interbank)",
    "TVC": "TVC (indices and yields)",
}


def exchanges() -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for symbol in searchable():
        entry = found.setdefault(
            symbol.exchange,
            {
                "code": symbol.exchange,
                "name": _EXCHANGE_NAMES.get(symbol.exchange, symbol.exchange),
                "country": symbol.country,
                "timezone": symbol.session.timezone,
                "types": [],
            },
        )
        if symbol.type not in entry["types"]:
            entry["types"].append(symbol.type)
    return list(found.values())


# --- fundamentals ---------------------------------------------------------------------


def _fundamental_base(symbol: Symbol) -> dict[str, float]:
    """Yearly figures (USD) sized from market cap with per-symbol ratios."""
    seed = _seed("fundamentals", symbol.code)
    cap = symbol.shares * symbol.walk.price
    pe = 18 + 40 * _unit(seed, 1)
    margin = 0.08 + 0.22 * _unit(seed, 2)
    net_income = cap / pe
    revenue = net_income / margin
    return {
        "revenue": revenue,
        "net_income": net_income,
        "gross_margin": 0.3 + 0.4 * _unit(seed, 3),
        "operating_margin": margin * 1.25,
        "assets": revenue * (1 + _unit(seed, 4)),
        "debt": revenue * 0.4 * _unit(seed, 5),
        "cash": revenue * 0.3 * _unit(seed, 6),
        "capex": revenue * 0.05 * (1 + _unit(seed, 7)),
    }


def fundamentals(symbol: Symbol, now: float) -> dict[str, Any] | None:
    if symbol.type != "stock":
        return None
    base = _fundamental_base(symbol)
    last = quote(symbol, now)["last_price"]
    cap = symbol.shares * last
    eps = base["net_income"] / symbol.shares
    equity = base["assets"] - base["debt"] * 2
    cash_flow = base["net_income"] * 1.15
    return {
        "code": symbol.code,
        "name": symbol.name,
        "currency_code": symbol.currency,
        "fiscal_period": _last_quarter_label(now),
        "company": {
            "sector": symbol.sector,
            "industry": symbol.industry,
            "country": symbol.country,
            "exchange": symbol.exchange,
            "shares_outstanding": symbol.shares,
        },
        "valuation": {
            "market_cap": round(cap),
            "price_earnings_ttm": round(last / eps, 2),
            "price_sales_ttm": round(cap / base["revenue"], 2),
            "price_book": round(cap / equity, 2),
            "enterprise_value": round(cap + base["debt"] - base["cash"]),
        },
        "profitability": {
            "gross_margin": round(base["gross_margin"] * 100, 2),
            "operating_margin": round(base["operating_margin"] * 100, 2),
            "net_margin": round(base["net_income"] / base["revenue"] * 100, 2),
            "return_on_equity": round(base["net_income"] / equity * 100, 2),
        },
        "income_statement": {
            "revenue_ttm": round(base["revenue"]),
            "gross_profit_ttm": round(base["revenue"] * base["gross_margin"]),
            "operating_income_ttm": round(base["revenue"] * base["operating_margin"]),
            "net_income_ttm": round(base["net_income"]),
            "eps_diluted_ttm": round(eps, 2),
        },
        "balance_sheet": {
            "total_assets": round(base["assets"]),
            "total_debt": round(base["debt"]),
            "cash_and_equivalents": round(base["cash"]),
            "total_equity": round(equity),
        },
        "cash_flow": {
            "operating_cash_flow_ttm": round(cash_flow),
            "capital_expenditures_ttm": round(-base["capex"]),
            "free_cash_flow_ttm": round(cash_flow - base["capex"]),
        },
        "dividends": {
            "dividend_yield": round(symbol.dividend_yield * 100, 2),
            "dividend_per_share_ttm": round(symbol.dividend_yield * last, 2),
        },
    }


def _quarter_ends(now: float, count: int, *, annual: bool) -> list[dt.date]:
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    # A period is reported about 40 days after it ends.
    cutoff = today - dt.timedelta(days=40)
    year, month = cutoff.year, cutoff.month
    ends = []
    while len(ends) < count:
        if month % 3 == 0 and (not annual or month == 12):
            end = dt.date(year, month, calendar.monthrange(year, month)[1])
            if end <= cutoff:
                ends.append(end)
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return ends


def _last_quarter_label(now: float) -> str:
    end = _quarter_ends(now, 1, annual=False)[0]
    return f"Q{(end.month - 1) // 3 + 1} {end.year}"


FUNDAMENTAL_FIELDS = ("revenue", "net_income", "eps_diluted", "operating_cash_flow")


def fundamentals_series(
    symbol: Symbol, now: float, *, period: str, count: int
) -> dict[str, Any] | None:
    if symbol.type != "stock":
        return None
    base = _fundamental_base(symbol)
    seed = _seed("fundamentals-series", symbol.code)
    annual = period == "annual"
    rows = []
    for end in _quarter_ends(now, count, annual=annual):
        years_back = (dt.datetime.fromtimestamp(now, dt.UTC).date() - end).days / 365.25
        level = math.exp(-0.08 * years_back) * (
            0.9 + 0.2 * _unit(seed, end.toordinal())
        )
        share = 1.0 if annual else 0.25
        net = base["net_income"] * share * level
        rows.append(
            {
                "date": end.isoformat(),
                "revenue": round(base["revenue"] * share * level),
                "net_income": round(net),
                "eps_diluted": round(net / symbol.shares, 2),
                "operating_cash_flow": round(net * 1.15),
            }
        )
    rows.reverse()
    return {
        "code": symbol.code,
        "period": period,
        "currency_code": symbol.currency,
        "series": rows,
    }


# --- news, documents, calendars -------------------------------------------------------

NEWS_EVERY = 420  # seconds between news items, on average
_NEWS_SOURCES = ("Reuters", "Dow Jones", "Benzinga", "MarketWatch", "Zacks", "Barron's")
_NEWS_TEMPLATES = (
    ("{name} shares {move} {pct}% in {session} trading", "medium"),
    ("{name} announces {event}", "high"),
    ("Analysts {verb} price target on {ticker} to ${target}", "medium"),
    ("{ticker} options activity jumps ahead of {event}", "low"),
    ("What to watch in {name} this week", "low"),
)
_NEWS_EVENTS = (
    "quarterly results",
    "a new share buyback",
    "a leadership change",
    "a product launch",
    "a strategic partnership",
    "an investor day",
)


def news(now: float, *, limit: int, code: str | None = None) -> list[dict[str, Any]]:
    """The most recent news items (newest first), one about every NEWS_EVERY seconds."""
    universe = searchable()
    items = []
    slot = int(now) // NEWS_EVERY
    seed = _seed("news")
    # Bounded scan: a symbol filter matches about one item in six.
    for index in range(slot, slot - 200 * limit, -1):
        published = index * NEWS_EVERY + int(_unit(seed, index) * (NEWS_EVERY - 1))
        if published > now:
            continue
        subject = universe[int(_unit(seed + 1, index) * len(universe))]
        related = [subject.code]
        if _unit(seed + 2, index) < 0.3:
            other = universe[int(_unit(seed + 3, index) * len(universe))]
            if other.code != subject.code:
                related.append(other.code)
        if code is not None and code not in related:
            continue
        template, importance = _NEWS_TEMPLATES[
            int(_unit(seed + 4, index) * len(_NEWS_TEMPLATES))
        ]
        up = _unit(seed + 5, index) < 0.5
        title = template.format(
            name=subject.name,
            ticker=subject.ticker,
            move="rise" if up else "fall",
            pct=f"{0.5 + _unit(seed + 6, index) * 6:.1f}",
            session="early" if _unit(seed + 7, index) < 0.5 else "late",
            event=_NEWS_EVENTS[int(_unit(seed + 8, index) * len(_NEWS_EVENTS))],
            verb="raise" if up else "cut",
            target=round(subject.walk.price * (1.1 if up else 0.9)),
        )
        source = _NEWS_SOURCES[int(_unit(seed + 9, index) * len(_NEWS_SOURCES))]
        items.append(
            {
                "id": f"sbx-{index}",
                "title": title,
                "content": f"{title}. (Synthetic sandbox story; not market information.)",
                "source": source,
                "link": f"https://news.sandbox.invalid/{index}",
                "published_at": float(published),
                "related_symbols": related,
                "importance": importance,
            }
        )
        if len(items) >= limit:
            break
    return items


DOCUMENT_TYPES = ("transcript", "sec_filing", "report")


def documents(
    symbol: Symbol, now: float, *, type_: str | None, limit: int
) -> list[dict[str, Any]]:
    if symbol.type not in ("stock", "etf"):
        return []
    found = []
    for end in _quarter_ends(now, 8, annual=False):
        label = f"Q{(end.month - 1) // 3 + 1} {end.year}"
        published = day_epoch(end + dt.timedelta(days=30))
        kinds = {
            "transcript": f"{symbol.name} {label} earnings call transcript",
            "sec_filing": f"{symbol.name} Form {'10-K' if end.month == 12 else '10-Q'} ({label})",
            "report": f"{symbol.name} {label} shareholder report",
        }
        for kind, title in kinds.items():
            if symbol.type == "etf" and kind != "report":
                continue
            if type_ is not None and kind != type_:
                continue
            found.append(
                {
                    "id": f"{symbol.ticker.lower()}-{kind}-{end:%Y%m%d}",
                    "code": symbol.code,
                    "type": kind,
                    "title": title,
                    "period": label,
                    "published_at": float(published),
                    "url": f"https://documents.sandbox.invalid/{symbol.ticker}/{kind}/{end:%Y%m%d}",
                }
            )
    found.sort(key=lambda doc: doc["published_at"], reverse=True)
    return found[:limit]


CALENDARS = ("dividends", "earnings", "ipos", "events")


def calendar_items(
    kind: str, start: dt.date, end: dt.date, now: float
) -> list[dict[str, Any]]:
    """Items dated in [start, end], oldest first."""
    if kind == "dividends":
        return _dividend_items(start, end, now)
    if kind == "earnings":
        return _earnings_items(start, end, now)
    if kind == "ipos":
        return _ipo_items(start, end, now)
    return _economic_items(start, end, now)


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def _dividend_items(start: dt.date, end: dt.date, now: float) -> list[dict[str, Any]]:
    items = []
    horizon = day_epoch(end) + DAY
    for symbol in searchable():
        for day in ex_dividend_dates(symbol, horizon):
            if start <= day <= end:
                pricer = Pricer(symbol, now)
                per_quarter = symbol.dividend_yield / len(symbol.dividend_months)
                amount = pricer.raw(min(day_epoch(day), now)) * per_quarter
                items.append(
                    {
                        "code": symbol.code,
                        "name": symbol.name,
                        "ex_date": day.isoformat(),
                        "record_date": (day + dt.timedelta(days=1)).isoformat(),
                        "payment_date": (day + dt.timedelta(days=14)).isoformat(),
                        "amount": round(amount, 4),
                        "currency_code": symbol.currency,
                        "frequency": "quarterly",
                    }
                )
    return sorted(items, key=lambda item: (item["ex_date"], item["code"]))


def _earnings_items(start: dt.date, end: dt.date, now: float) -> list[dict[str, Any]]:
    items = []
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    for symbol in searchable():
        if not symbol.earnings_months:
            continue
        seed = _seed("earnings", symbol.code)
        base = _fundamental_base(symbol)
        for year in range(start.year, end.year + 1):
            for month in symbol.earnings_months:
                day = dt.date(year, month, 20 + int(_unit(seed, year * 12 + month) * 9))
                while day.weekday() > 3:
                    day -= dt.timedelta(days=1)
                if not start <= day <= end:
                    continue
                quarter_end = dt.date(year, month, 1) - dt.timedelta(days=1)
                estimate = base["net_income"] / 4 / symbol.shares
                surprise = 0.9 + 0.2 * _unit(seed + 1, day.toordinal())
                reported = day < today
                items.append(
                    {
                        "code": symbol.code,
                        "name": symbol.name,
                        "date": day.isoformat(),
                        "time": "amc" if _unit(seed + 2, year) < 0.6 else "bmo",
                        "fiscal_period": f"Q{(quarter_end.month - 1) // 3 + 1} {quarter_end.year}",
                        "eps_estimate": round(estimate, 2),
                        "eps_actual": round(estimate * surprise, 2)
                        if reported
                        else None,
                        "revenue_estimate": round(base["revenue"] / 4),
                        "revenue_actual": (
                            round(base["revenue"] / 4 * surprise) if reported else None
                        ),
                    }
                )
    return sorted(items, key=lambda item: (item["date"], item["code"]))


_IPO_WORDS = (
    "Quantum",
    "Harbor",
    "Nimbus",
    "Granite",
    "Vector",
    "Lumen",
    "Cobalt",
    "Aster",
)
_IPO_KINDS = ("Robotics", "Therapeutics", "Networks", "Energy", "Payments", "Analytics")


def _ipo_items(start: dt.date, end: dt.date, now: float) -> list[dict[str, Any]]:
    items = []
    seed = _seed("ipos")
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    for day in _days(start, end):
        ordinal = day.toordinal()
        if day.weekday() > 4 or _unit(seed, ordinal) > 0.25:
            continue
        word = _IPO_WORDS[int(_unit(seed + 1, ordinal) * len(_IPO_WORDS))]
        kind = _IPO_KINDS[int(_unit(seed + 2, ordinal) * len(_IPO_KINDS))]
        ticker = (word[:2] + kind[:2]).upper()
        low = round(10 + 20 * _unit(seed + 3, ordinal))
        exchange = "NASDAQ" if _unit(seed + 4, ordinal) < 0.7 else "NYSE"
        items.append(
            {
                "code": f"{exchange}:{ticker}",
                "name": f"{word} {kind} Inc.",
                "exchange": exchange,
                "date": day.isoformat(),
                "price_range_low": float(low),
                "price_range_high": float(low + 2),
                "shares_offered": float(round(5e6 + 3e7 * _unit(seed + 5, ordinal))),
                "status": "priced" if day < today else "expected",
            }
        )
    return items


def _economic_items(start: dt.date, end: dt.date, now: float) -> list[dict[str, Any]]:
    items = []
    seed = _seed("events")
    new_york = ZoneInfo("America/New_York")
    for day in _days(start, end):
        events = []
        if day.weekday() == 3:
            events.append(("Initial Jobless Claims", "medium", 230_000.0, "", 510))
        if day.weekday() == 4 and day.day <= 7:
            events.append(("Nonfarm Payrolls", "high", 150_000.0, "", 510))
            events.append(("Unemployment Rate", "high", 4.2, "%", 510))
        if day.day == _nth_weekday(day.year, day.month, 1, 2).day:
            events.append(("CPI (YoY)", "high", 2.9, "%", 510))
        if day.month in (1, 3, 4, 6, 7, 9, 10, 12) and day == _nth_weekday(
            day.year, day.month, 2, 3
        ):
            events.append(("FOMC Interest Rate Decision", "high", 4.0, "%", 840))
        for title, importance, level, unit, minute in events:
            moment = _local_epoch(day, minute, new_york)
            wobble = 1 + 0.04 * (_unit(seed, moment) - 0.5)
            forecast = round(level * wobble, 1)
            items.append(
                {
                    "id": f"{title.split()[0].lower()}-{day:%Y%m%d}",
                    "title": title,
                    "country": "US",
                    "date": dt.datetime.fromtimestamp(moment, dt.UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "importance": importance,
                    "unit": unit,
                    "forecast": forecast,
                    "previous": round(
                        level * (1 + 0.04 * (_unit(seed + 1, moment) - 0.5)), 1
                    ),
                    "actual": (
                        round(
                            forecast * (1 + 0.03 * (_unit(seed + 2, moment) - 0.5)), 1
                        )
                        if moment <= now
                        else None
                    ),
                }
            )
    return items


# --- screeners and options ------------------------------------------------------------

SCREENERS = ("stock", "etf", "bond", "crypto")


def screener(kind: str, now: float, *, delay: int) -> list[dict[str, Any]]:
    rows = []
    for symbol in searchable():
        if symbol.type != kind:
            continue
        q = quote(symbol, now, delay=delay)
        row = {
            "code": symbol.code,
            "name": symbol.name,
            "exchange": symbol.exchange,
            "currency_code": symbol.currency,
            "last_price": q["last_price"],
            "change": q["change"],
            "change_percent": q["change_percent"],
            "volume": q["volume"],
            "status": q["status"],
        }
        if symbol.shares:
            row["market_cap"] = q["market_cap"]
        if symbol.sector:
            row["sector"] = symbol.sector
        if symbol.dividend_yield:
            row["dividend_yield"] = round(symbol.dividend_yield * 100, 2)
        rows.append(row)
    return rows


OPTIONABLE = frozenset(s.code for s in _STOCKS)


def option_expirations(now: float, count: int = 6) -> list[dt.date]:
    """The next `count` Friday expirations (weeklies) after today."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    day = today + dt.timedelta(days=(4 - today.weekday()) % 7 or 7)
    found = []
    while len(found) < count:
        expiry = day
        while expiry in us_holidays(expiry.year):
            expiry -= dt.timedelta(days=1)
        found.append(expiry)
        day += dt.timedelta(days=7)
    return found


def _strike_step(price: float) -> float:
    for step in (1.0, 2.5, 5.0, 10.0, 25.0, 50.0):
        if price / step <= 40:
            return step
    return 100.0


def option_strikes(symbol: Symbol, now: float) -> list[float]:
    """Strikes around the start-of-day price, stable through the day."""
    day_start = int(now) // DAY * DAY
    center = Pricer(symbol, day_start).raw(day_start)
    step = _strike_step(center)
    middle = round(center / step) * step
    return [
        round(middle + step * k, 2) for k in range(-10, 11) if middle + step * k > 0
    ]


def option_code(symbol: Symbol, expiry: dt.date, kind: str, strike: float) -> str:
    return f"OPRA:{symbol.ticker}{expiry:%y%m%d}{kind}{strike:.1f}"


def option_codes(symbol: Symbol, now: float) -> list[str]:
    return [
        option_code(symbol, expiry, kind, strike)
        for expiry in option_expirations(now)
        for strike in option_strikes(symbol, now)
        for kind in ("C", "P")
    ]


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def option_row(
    symbol: Symbol, expiry: dt.date, kind: str, strike: float, spot: float, now: float
) -> dict[str, Any]:
    """One contract priced with Black-Scholes on a mild volatility smile."""
    seed = _seed("options", symbol.code)
    years = max(1 / 365, (day_epoch(expiry) + 20 * 3600 - now) / YEAR)
    base_iv = symbol.walk.sigma * math.sqrt(252)
    moneyness = math.log(strike / spot)
    iv = base_iv * (1 + 0.8 * moneyness * moneyness - 0.1 * moneyness)
    rate = 0.04
    root_t = math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + iv * iv / 2) * years) / (iv * root_t)
    d2 = d1 - iv * root_t
    density = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    discount = math.exp(-rate * years)
    if kind == "C":
        price = spot * _normal_cdf(d1) - strike * discount * _normal_cdf(d2)
        delta = _normal_cdf(d1)
        theta = -spot * density * iv / (
            2 * root_t
        ) - rate * strike * discount * _normal_cdf(d2)
        rho = strike * years * discount * _normal_cdf(d2)
    else:
        price = strike * discount * _normal_cdf(-d2) - spot * _normal_cdf(-d1)
        delta = _normal_cdf(d1) - 1
        theta = -spot * density * iv / (
            2 * root_t
        ) + rate * strike * discount * _normal_cdf(-d2)
        rho = -strike * years * discount * _normal_cdf(-d2)
    price = max(price, 0.01)
    half_spread = max(0.01, price * 0.02)
    key = int(strike * 100) * 1000 + expiry.toordinal() % 1000
    return {
        "code": option_code(symbol, expiry, kind, strike),
        "type": "CALL" if kind == "C" else "PUT",
        "strike_price": strike,
        "expiration": int(expiry.strftime("%Y%m%d")),
        "bid_price": round(max(0.01, price - half_spread), 2),
        "ask_price": round(price + half_spread, 2),
        "theoretical_price": round(price, 2),
        "implied_volatility": round(iv, 4),
        "delta": round(delta, 4),
        "gamma": round(density / (spot * iv * root_t), 4),
        "theta": round(theta / 365, 4),
        "vega": round(spot * density * root_t / 100, 4),
        "rho": round(rho / 100, 4),
        "bid_iv": round(iv * 0.98, 4),
        "ask_iv": round(iv * 1.02, 4),
        "volume": float(int(_unit(seed, key) * 5000 * math.exp(-8 * abs(moneyness)))),
        "open_interest": float(
            int(_unit(seed + 1, key) * 40000 * math.exp(-6 * abs(moneyness)))
        ),
    }


def option_chain(
    symbol: Symbol,
    now: float,
    *,
    delay: int,
    expiration: dt.date | None = None,
    strike: float | None = None,
) -> list[dict[str, Any]]:
    t = now - delay
    spot = Pricer(symbol, t).raw(t)
    rows = []
    for expiry in option_expirations(now):
        if expiration is not None and expiry != expiration:
            continue
        for level in option_strikes(symbol, now):
            if strike is not None and abs(level - strike) > 1e-9:
                continue
            for kind in ("C", "P"):
                rows.append(option_row(symbol, expiry, kind, level, spot, t))
    return rows
