"""Equity options: weekly expirations, strikes around the day's price, and contracts
priced with Black-Scholes."""

import datetime as dt
import math
from typing import Any

from sandbox.synth.catalogue import STOCKS
from sandbox.synth.epoch import DAY, YEAR, day_epoch
from sandbox.synth.noise import seed_of, unit
from sandbox.synth.prices import Pricer
from sandbox.synth.sessions import us_holidays
from sandbox.synth.symbols import Symbol

OPTIONABLE = frozenset(s.code for s in STOCKS)


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
    seed = seed_of("options", symbol.code)
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
        "volume": float(int(unit(seed, key) * 5000 * math.exp(-8 * abs(moneyness)))),
        "open_interest": float(
            int(unit(seed + 1, key) * 40000 * math.exp(-6 * abs(moneyness)))
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
