"""Reference data: symbol information, session details, futures contracts, symbol
search and the exchange list."""

import calendar
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.synth.catalogue import searchable
from sandbox.synth.epoch import day_epoch
from sandbox.synth.options import OPTIONABLE, option_expirations
from sandbox.synth.quotes import quote, status
from sandbox.synth.sessions import holiday_dates, next_sessions
from sandbox.synth.symbols import Symbol, contracts_of


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
        for day in sorted(holiday_dates(session, year)):
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


def contracts(symbol: Symbol, now: float) -> dict[str, Any] | None:
    root = symbol.root
    if root is None:
        return None
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    listed = [
        contract
        for contract in contracts_of(root, today.year - 1, today.year + 2)
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
