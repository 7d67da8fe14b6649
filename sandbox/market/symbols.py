"""Symbol handlers: quotes, search, exchanges, and per-symbol information,
fundamentals, futures contracts and sessions."""

from typing import Any

from aiohttp import web

from sandbox.market.context import NOW_KEY, MarketError, dumps, hold_long_poll, ms
from sandbox.market.params import (
    invalid,
    param_bool,
    param_choice,
    param_int,
    path_symbol,
)
from sandbox.synth.catalogue import lookup
from sandbox.synth.fundamentals import fundamentals, fundamentals_series
from sandbox.synth.quotes import quote
from sandbox.synth.reference import contracts, exchanges, info, search, session_details
from sandbox.synth.symbols import Symbol

MAX_QUOTE_CODES = 10
SEARCH_PAGE_SIZE = 50


async def get_info(request: web.Request) -> bytes:
    return dumps(info(path_symbol(request), request[NOW_KEY]))


async def get_quotes(request: web.Request) -> bytes:
    raw = request.query.get("codes", "")
    codes = [code.strip() for code in raw.split(",") if code.strip()]
    if not codes:
        raise invalid("codes", "'codes' is required: comma-separated symbol codes")
    if len(codes) > MAX_QUOTE_CODES:
        raise invalid(
            "codes", f"At most {MAX_QUOTE_CODES} codes per request", max=MAX_QUOTE_CODES
        )
    symbols = [lookup(code) for code in codes]
    unknown = [code for code, symbol in zip(codes, symbols, strict=True) if not symbol]
    if unknown:
        raise MarketError(
            404, "SYMBOL_NOT_FOUND", "Invalid Symbol Code", {"codes": unknown}
        )
    if param_bool(request.query, "long_poll", False):
        await hold_long_poll(request, int(request[NOW_KEY]) + 1)
    now = request[NOW_KEY]
    data = [quote(symbol, now) for symbol in symbols if symbol is not None]
    return dumps({"last_update": ms(now), "total_items": len(data), "data": data})


async def get_search(request: web.Request) -> bytes:
    query = request.query
    page = param_int(query, "page", default=1, low=1, high=10_000)
    type_ = query.get("type") or None
    country = query.get("country") or None
    found = search(query.get("query", ""), type_=type_, country=country)
    start = (page - 1) * SEARCH_PAGE_SIZE
    return dumps(
        {
            "current_page": page,
            "has_more": len(found) > start + SEARCH_PAGE_SIZE,
            "symbols": found[start : start + SEARCH_PAGE_SIZE],
        }
    )


async def get_exchanges(request: web.Request) -> bytes:
    found = exchanges()
    return dumps({"total_items": len(found), "exchanges": found})


def _found(symbol: Symbol, body: Any, what: str) -> bytes:
    """`body` as JSON; 404 NO_DATA (no `what` for the symbol) when it is None."""
    if body is None:
        raise MarketError(
            404, "NO_DATA", f"No {what} for {symbol.code}", {"symbol": symbol.code}
        )
    return dumps(body)


async def get_fundamentals(request: web.Request) -> bytes:
    symbol = path_symbol(request)
    return _found(symbol, fundamentals(symbol, request[NOW_KEY]), "fundamental data")


async def get_fundamentals_series(request: web.Request) -> bytes:
    symbol = path_symbol(request)
    query = request.query
    period = param_choice(query, "period", ("quarterly", "annual"), default="quarterly")
    count = param_int(query, "limit", default=8, low=1, high=40)
    body = fundamentals_series(symbol, request[NOW_KEY], period=period, count=count)
    return _found(symbol, body, "fundamental data")


async def get_contracts(request: web.Request) -> bytes:
    symbol = path_symbol(request)
    return _found(symbol, contracts(symbol, request[NOW_KEY]), "futures contracts")


async def get_session(request: web.Request) -> bytes:
    return dumps(session_details(path_symbol(request), request[NOW_KEY]))
