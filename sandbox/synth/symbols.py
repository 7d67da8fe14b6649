"""What a symbol is: instruments, futures roots, and the dated contracts of a root."""

import calendar
import dataclasses
import datetime as dt
import decimal
import functools

from sandbox.synth.sessions import Session, nth_weekday, us_holidays
from sandbox.synth.walk import Walk


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


MONTH_CODES = "FGHJKMNQUVXZ"


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
        day = nth_weekday(year, month, 4, 3)
        while day in us_holidays(year):
            day -= dt.timedelta(days=1)
        return day
    return _third_last_business_day(year, month)


def _futures(root: FuturesRoot, suffix: str, detail: str, **fields) -> Symbol:
    """A tradable of `root`: its code with `suffix`, its name with `(detail)`."""
    return Symbol(
        code=f"{root.code}{suffix}",
        name=f"{root.name} ({detail})",
        type="futures",
        session=root.session,
        currency="USD",
        country="US",
        walk=root.walk,
        tick=root.tick,
        root=root,
        **fields,
    )


def contract(root: FuturesRoot, month_code: str, year: int) -> Symbol:
    month = MONTH_CODES.index(month_code) + 1
    expiry = contract_expiry(root, year, month)
    return _futures(
        root,
        f"{month_code}{year}",
        f"{calendar.month_abbr[month]} {year}",
        # Dated contracts trade a fraction of the front month's volume on average.
        minute_volume=root.minute_volume / 3,
        listed=max(root.since, expiry - dt.timedelta(days=400)),
        expiry=expiry,
    )


def continuous_contract(root: FuturesRoot) -> Symbol:
    return _futures(
        root,
        "1!",
        "continuous: current contract in front",
        minute_volume=root.minute_volume,
        listed=root.since,
        continuous=True,
    )


def contracts_of(root: FuturesRoot, first_year: int, last_year: int) -> list[Symbol]:
    return [
        contract(root, month, year)
        for year in range(first_year, last_year + 1)
        for month in root.months
    ]
