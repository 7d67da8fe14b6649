"""Option handlers: `/options/list`, `/options/expiration`, `/options/strike`."""

import datetime as dt
from typing import Any

from aiohttp import web

from sandbox.market.context import NOW_KEY, dumps
from sandbox.market.params import (
    delay_seconds,
    invalid,
    param_choice,
    param_date,
    symbol_of,
)
from sandbox.synth.options import OPTIONABLE, option_chain, option_codes
from sandbox.synth.symbols import Symbol


def _underlying(request: web.Request) -> Symbol:
    code = request.query.get("code")
    if not code:
        raise invalid("code", "'code' is required")
    return symbol_of(code)


async def get_options_list(request: web.Request) -> bytes:
    symbol = _underlying(request)
    codes = option_codes(symbol, request[NOW_KEY]) if symbol.code in OPTIONABLE else []
    return dumps({"code": symbol.code, "total_items": len(codes), "codes": codes})


_SORTABLE = (
    "strike_price",
    "expiration",
    "implied_volatility",
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
    "type",
    "volume",
)


def _chain_body(
    request: web.Request, symbol: Symbol, rows: list[dict[str, Any]], **echo: Any
) -> bytes:
    query = request.query
    sort_by = query.get("sortBy") or query.get("sort_by")
    if sort_by:
        if sort_by not in _SORTABLE:
            raise invalid("sortBy", f"'sortBy' must be one of {', '.join(_SORTABLE)}")
        order = param_choice(query, "sort", ("asc", "desc"), default="asc")
        rows = sorted(rows, key=lambda row: row[sort_by], reverse=order == "desc")
    return dumps(
        {
            "code": symbol.code,
            **echo,
            "delay_seconds": delay_seconds(request),
            "total_items": len(rows),
            "data": rows,
        }
    )


def _optionable(symbol: Symbol) -> bool:
    return symbol.code in OPTIONABLE


async def get_options_expiration(request: web.Request) -> bytes:
    symbol = _underlying(request)
    raw = request.query.get("expiration")
    if not raw:
        raise invalid("expiration", "'expiration' is required (YYYY-MM-DD)")
    expiration = param_date(request.query, "expiration", dt.date.min)
    rows = (
        option_chain(
            symbol,
            request[NOW_KEY],
            delay=delay_seconds(request),
            expiration=expiration,
        )
        if _optionable(symbol)
        else []
    )
    return _chain_body(request, symbol, rows, expiration=expiration.isoformat())


async def get_options_strike(request: web.Request) -> bytes:
    symbol = _underlying(request)
    raw = request.query.get("strike")
    try:
        strike = float(raw) if raw else None
    except ValueError:
        strike = None
    if strike is None or not strike > 0:
        raise invalid("strike", "'strike' must be a positive number")
    rows = (
        option_chain(
            symbol, request[NOW_KEY], delay=delay_seconds(request), strike=strike
        )
        if _optionable(symbol)
        else []
    )
    return _chain_body(request, symbol, rows, strike=strike)
