"""The simulated InsightSentry market data REST API: `/v3/...`.

`market_app(state)` is mounted by `sandbox.orgapi.create_app` beside the Organization API, on
the same port. One middleware does what every request needs, in this order:

1. member key (`Authorization: Bearer <member api_key>`): 401 UNAUTHORIZED if missing
   or unknown, 403 SUBSCRIPTION_INACTIVE if the member is cancelled or expired;
2. injected faults (scope "market" or "all"): latency, 503 SANDBOX_FAULT (not counted);
3. the plan's rate limit (429 RATE_LIMITED with Retry-After) and monthly quota
   (429 QUOTA_EXCEEDED), counting the request;
4. the handler; a refusal from it (400, 403, 404) uncounts the request;
5. the applied faults: a held answer (timeout) or a body cut off mid-way (drop).

Handlers parse parameters and turn `sandbox.synth` data into JSON bytes. It has to be
fast (the gateway's benchmark must not be measuring this), so identical requests within
one second (same path and query, same feature tier) get the cached bytes, and series
rows are written without a generic JSON encoder.

Errors are the upstream's shape: `{"error": ..., "code": ..., "details": {...}}`.
"""

import asyncio
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from orgportal import clock
from sandbox.state.errors import SandboxError
from sandbox.state.members import Member
from sandbox.state.plans import TIER_FEATURES, TierFeatures
from sandbox.state.store import SandboxState
from sandbox.synth.bars import BAR_SECONDS, BAR_TYPES
from sandbox.synth.calendars import CALENDARS, calendar_items
from sandbox.synth.catalogue import lookup
from sandbox.synth.documents import DOCUMENT_TYPES, documents
from sandbox.synth.epoch import DAY, day_epoch
from sandbox.synth.fundamentals import fundamentals, fundamentals_series
from sandbox.synth.news import news
from sandbox.synth.options import OPTIONABLE, option_chain, option_codes
from sandbox.synth.quotes import quote
from sandbox.synth.reference import contracts, exchanges, info, search, session_details
from sandbox.synth.screeners import SCREENERS, screener
from sandbox.synth.series import Series, history, series
from sandbox.synth.symbols import Symbol

__all__ = [
    "MARKET_PREFIX",
    "MAX_DATA_POINTS",
    "MAX_QUOTE_CODES",
    "MarketError",
    "market_app",
    "send_truncated",
]

MARKET_PREFIX = "/v3"
MAX_DATA_POINTS = 30_000
MAX_BAR_INTERVAL = 1_000
MAX_QUOTE_CODES = 10
SEARCH_PAGE_SIZE = 50
# Plans without real-time screeners and options see them this many seconds late.
DELAYED_SECONDS = 900
# Requests for more bars than this are computed off the event loop.
HEAVY_BARS = 2_000
# Bytes of answers kept for the current second; past this the cache starts over.
CACHE_BYTES = 64 * 1024 * 1024
# Longest calendar range one request may ask for, in days.
MAX_CALENDAR_DAYS = 93

JSON = "application/json"
SERIES_KEYS = ("time", "open", "high", "low", "close", "volume")

Handler = Callable[[web.Request], Awaitable[bytes]]
_STATE = web.AppKey("market_state", SandboxState)
_MEMBER = web.RequestKey("market_member", Member)
# The Unix time a handler answers for: when the request arrived, or after a long poll.
_NOW = web.RequestKey("market_now", float)


class MarketError(SandboxError):
    """A refusal of the market data API, answered as `{"error", "code", "details"}`
    (no "success" key: that is the Organization API's dialect)."""


def market_app(state: SandboxState) -> web.Application:
    """The `/v3` sub-application, answering for the members of `state`."""
    app = web.Application(middlewares=[_gate(state, _SecondCache())])
    app[_STATE] = state
    app.add_routes(
        [
            web.get("/symbols/quotes", _quotes),
            web.get("/symbols/search", _search),
            web.get("/symbols/exchanges", _exchanges),
            web.get("/symbols/{symbol}/series", _series),
            web.get("/symbols/{symbol}/history", _history),
            web.get("/symbols/{symbol}/info", _info),
            web.get("/symbols/{symbol}/fundamentals", _fundamentals),
            web.get("/symbols/{symbol}/fundamentals/series", _fundamentals_series),
            web.get("/symbols/{symbol}/contracts", _contracts),
            web.get("/symbols/{symbol}/session", _session),
            web.get("/newsfeed", _newsfeed),
            web.get("/documents", _documents),
            web.get("/calendar/{kind}", _calendar),
            web.get("/screeners/{kind}", _screener),
            web.get("/options/list", _options_list),
            web.get("/options/expiration", _options_expiration),
            web.get("/options/strike", _options_strike),
        ]
    )
    return app


# --- the gate: auth, faults, limits, cache --------------------------------------------


def _state(request: web.Request) -> SandboxState:
    return request.config_dict[_STATE]


class _SecondCache:
    """Answers computed during one second, by request; older ones are dropped as soon
    as a later second stores, so the cache never outgrows one second's traffic."""

    def __init__(self) -> None:
        self.second = -1
        self.size = 0
        self.answers: dict[tuple[str, str], bytes] = {}

    def get(self, key: tuple[str, str], second: int) -> bytes | None:
        return self.answers.get(key) if second == self.second else None

    def put(self, key: tuple[str, str], second: int, body: bytes) -> None:
        if second != self.second or self.size + len(body) > CACHE_BYTES:
            if second < self.second:
                return  # a long computation finishing late: its second has passed
            self.second, self.size = second, 0
            self.answers = {}
        self.answers[key] = body
        self.size += len(body)


def _gate(state: SandboxState, cache: _SecondCache) -> Callable[..., Awaitable[Any]]:
    """The middleware every market request passes (see the module docstring); `cache`
    holds this second's answers by (raw path and query, feature tier)."""

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            moment = clock.now()
            member = _member(state, request, moment)
            faults = state.faults
            kind = None
            if faults.active and faults.covers("market", request.method):
                kind = await state.fault_begin(faults)
                moment = clock.now()
            now = moment.timestamp()
            remaining = state.market_admit(member, now)
            try:
                body = await _answer(request, handler, member, now, cache)
            except (MarketError, SandboxError, web.HTTPException):
                state.market_release(member, now)
                raise
        except (MarketError, SandboxError) as error:
            return _error_response(error)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _HTTP_CODES.get(exc.status, "HTTP_ERROR")
            return _error_response(MarketError(exc.status, code, exc.reason))
        headers = {
            "Content-Type": JSON,
            "X-RateLimit-Limit": str(member.plan.limits.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
        }
        if kind == "drop":
            return await send_truncated(request, body, status=200, headers=headers)
        if kind == "timeout":
            await asyncio.sleep(faults.hang_seconds)
        return web.Response(body=body, headers=headers)

    return gate


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def _member(state: SandboxState, request: web.Request, moment: dt.datetime) -> Member:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    member = (
        state.member_by_api_key(key.strip()) if scheme.lower() == "bearer" else None
    )
    if member is None:
        raise MarketError(401, "UNAUTHORIZED", "Invalid or missing API key")
    status = member.status_at(moment)
    if status != "active":
        raise MarketError(
            403,
            "SUBSCRIPTION_INACTIVE",
            f"Subscription is {status}",
            {"status": status},
        )
    request[_MEMBER] = member
    return member


async def _answer(
    request: web.Request,
    handler: Handler,
    member: Member,
    now: float,
    cache: _SecondCache,
) -> bytes:
    """The handler's bytes, or the same bytes as an identical request this second."""
    key = (request.raw_path, member.plan.feature)
    # A long poll waits for fresh data, never for what is cached.
    if "long_poll=" not in request.raw_path:
        hit = cache.get(key, int(now))
        if hit is not None:
            return hit
    request[_NOW] = now
    body = await handler(request)
    cache.put(key, int(request[_NOW]), body)
    return body


async def send_truncated(
    request: web.Request, body: bytes, *, status: int, headers: Mapping[str, str]
) -> web.StreamResponse:
    """Send the status, the headers (announcing the full length) and half the body,
    then close the connection: what a proxy sees when its upstream dies mid-answer."""
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return response


def _error_response(error: MarketError | SandboxError) -> web.Response:
    body = {"error": error.message, "code": error.code, "details": error.details}
    return web.Response(
        body=_dumps(body),
        status=error.status,
        headers={"Content-Type": JSON, **error.headers},
    )


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _ms(now: float) -> int:
    return int(now * 1000)


async def _off_loop(heavy: bool, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """Run big computations in a worker thread so the event loop keeps answering."""
    if not heavy:
        return fn(*args, **kw)
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: fn(*args, **kw)
    )


async def _long_poll(request: web.Request, until: float) -> None:
    """Hold until `until` (Unix seconds) or the sandbox's long-poll limit, then take
    the time again."""
    state = _state(request)
    wait = min(until - request[_NOW], state.long_poll_seconds)
    if wait > 0:
        await asyncio.sleep(wait)
    request[_NOW] = clock.now().timestamp()


# --- parameters -----------------------------------------------------------------------

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _invalid(name: str, message: str, **details: Any) -> MarketError:
    return MarketError(
        400, "INVALID_PARAMETER", message, {"parameter": name, **details}
    )


def _bool(query: MultiMapping[str], name: str, default: bool) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _invalid(name, f"'{name}' must be true or false")


def _int(
    query: MultiMapping[str],
    name: str,
    *,
    default: int | None,
    low: int,
    high: int,
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise _invalid(name, f"'{name}' is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"'{name}' must be an integer") from None
    if not low <= value <= high:
        raise _invalid(name, f"'{name}' must be between {low} and {high}")
    return value


def _choice(
    query: MultiMapping[str],
    name: str,
    choices: tuple[str, ...],
    *,
    default: str | None = None,
) -> str:
    raw = query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise _invalid(name, f"'{name}' is required", allowed=list(choices))
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise _invalid(
            name, f"'{name}' must be one of {', '.join(choices)}", allowed=list(choices)
        )
    return value


def _date(query: MultiMapping[str], name: str, default: dt.date) -> dt.date:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise _invalid(name, f"'{name}' must be a date (YYYY-MM-DD)") from None


def _symbol(code: str) -> Symbol:
    symbol = lookup(code)
    if symbol is None:
        raise MarketError(
            404, "SYMBOL_NOT_FOUND", "Invalid Symbol Code", {"symbol": code}
        )
    return symbol


def _path_symbol(request: web.Request) -> Symbol:
    return _symbol(request.match_info["symbol"])


def _features(request: web.Request) -> TierFeatures:
    member: Member = request[_MEMBER]
    return member.plan.features


def _not_in_plan(feature: str, has_it: Callable[[TierFeatures], bool]) -> MarketError:
    tiers = [name for name, features in TIER_FEATURES.items() if has_it(features)]
    return MarketError(
        403,
        "FEATURE_NOT_IN_PLAN",
        f"Your plan does not include {feature}",
        {"feature": feature, "required_plan": tiers[0], "available_on": tiers},
    )


def _data_points(query: MultiMapping[str], plan_max: int) -> int:
    """`data_points` (or its alias `dp`): 1-30,000, clamped to what the plan allows;
    the plan's maximum when absent."""
    name = "data_points" if query.get("data_points") else "dp"
    requested = _int(query, name, default=plan_max, low=1, high=MAX_DATA_POINTS)
    return min(requested, plan_max)


def _adjustments(query: MultiMapping[str]) -> tuple[bool, bool]:
    dadj = _bool(query, "dadj", False)
    name = "backadjust" if query.get("backadjust") else "badj"
    return dadj, _bool(query, name, False)


_CURRENCY = re.compile(r"^[A-Za-z]{3,4}$")


def _check_common(query: MultiMapping[str]) -> None:
    """Documented parameters the sandbox accepts but does not act on."""
    _bool(query, "realtime", False)
    currency = query.get("currency")
    if currency and not _CURRENCY.match(currency):
        raise _invalid("currency", "'currency' must be a currency code such as USD")


# --- series ---------------------------------------------------------------------------


def _series_body(symbol: Symbol, result: Series, now: float, abbr: bool) -> bytes:
    head: dict[str, Any] = {
        "code": symbol.code,
        # The endpoint reference names it `symbol`; observed answers carry `code`.
        "symbol": symbol.code,
        "bar_type": result.bar_type,
        "bar_end": float(result.bar_end) if result.bar_end is not None else None,
        "last_update": _ms(now),
    }
    if abbr:
        head["series_keys"] = list(SERIES_KEYS)
        rows = ",".join(
            f"[{t!r},{o!r},{h!r},{lo!r},{c!r},{v!r}]"
            for t, o, h, lo, c, v in result.bars
        )
    else:
        rows = ",".join(
            f'{{"time":{t!r},"open":{o!r},"high":{h!r},"low":{lo!r},'
            f'"close":{c!r},"volume":{v!r}}}'
            for t, o, h, lo, c, v in result.bars
        )
    return _dumps(head)[:-1] + b',"series":[' + rows.encode() + b"]}"


def _next_bar(bar_type: str, interval: int, now: float) -> float:
    """When the bar in progress at `now` ends, or `now` + a day for longer bars."""
    if bar_type == "tick":
        return int(now) + 1
    size = BAR_SECONDS.get(bar_type)
    if size is None:
        return now + DAY
    size *= interval
    return (int(now) // size + 1) * size


async def _series(request: web.Request) -> bytes:
    symbol = _path_symbol(request)
    query = request.query
    features = _features(request)
    bar_type = _choice(query, "bar_type", BAR_TYPES)
    interval = _int(query, "bar_interval", default=1, low=1, high=MAX_BAR_INTERVAL)
    count = _data_points(query, features.data_points)
    extended = _bool(query, "extended", True)
    dadj, backadjust = _adjustments(query)
    settlement = _bool(query, "settlement", False)
    abbr = _bool(query, "abbr", False)
    long_poll = _bool(query, "long_poll", False)
    _check_common(query)
    if bar_type == "tick" and not features.tick:
        raise _not_in_plan("tick data", lambda f: f.tick)
    if long_poll:
        await _long_poll(request, _next_bar(bar_type, interval, request[_NOW]))
    now = request[_NOW]
    result = await _off_loop(
        count > HEAVY_BARS,
        series,
        symbol,
        bar_type=bar_type,
        interval=interval,
        count=count,
        now=int(now),
        extended=extended,
        dadj=dadj,
        backadjust=backadjust,
        settlement=settlement,
    )
    return _series_body(symbol, result, now, abbr)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _history_start(raw: str | None, bar_type: str) -> tuple[dt.date, dt.date]:
    """The period `start_date` names: a UTC day for second bars, else a month."""
    if not raw:
        raise _invalid("start_date", "'start_date' is required")
    raw = raw.strip()
    try:
        month = _MONTH.match(raw)
        if month and bar_type != "second":
            start = dt.date(int(month[1]), int(month[2]), 1)
        else:
            start = dt.date.fromisoformat(raw)
    except ValueError:
        start = None
    if start is None:
        shape = "YYYY-MM-DD" if bar_type == "second" else "YYYY-MM"
        raise _invalid("start_date", f"'start_date' must look like {shape}")
    if bar_type == "second":
        return start, start + dt.timedelta(days=1)
    year, number = divmod(start.month, 12)
    return start, dt.date(start.year + year, number + 1, 1)


async def _history(request: web.Request) -> bytes:
    symbol = _path_symbol(request)
    features = _features(request)
    if not features.deep_history:
        raise _not_in_plan("deep history", lambda f: f.deep_history)
    query = request.query
    bar_type = _choice(query, "bar_type", ("second", "minute", "hour"))
    interval = _int(query, "bar_interval", default=1, low=1, high=MAX_BAR_INTERVAL)
    start, end = _history_start(query.get("start_date"), bar_type)
    extended = _bool(query, "extended", True)
    dadj, backadjust = _adjustments(query)
    _bool(query, "settlement", False)
    abbr = _bool(query, "abbr", False)
    now = request[_NOW]
    start_epoch = day_epoch(start)
    if start_epoch > now:
        raise _invalid("start_date", "'start_date' is in the future")
    result = await _off_loop(
        True,
        history,
        symbol,
        bar_type=bar_type,
        interval=interval,
        start=start_epoch,
        end=day_epoch(end),
        now=int(now),
        limit=MAX_DATA_POINTS,
        extended=extended,
        dadj=dadj,
        backadjust=backadjust,
    )
    return _series_body(symbol, result, now, abbr)


# --- symbols --------------------------------------------------------------------------


async def _info(request: web.Request) -> bytes:
    return _dumps(info(_path_symbol(request), request[_NOW]))


async def _quotes(request: web.Request) -> bytes:
    raw = request.query.get("codes", "")
    codes = [code.strip() for code in raw.split(",") if code.strip()]
    if not codes:
        raise _invalid("codes", "'codes' is required: comma-separated symbol codes")
    if len(codes) > MAX_QUOTE_CODES:
        raise _invalid(
            "codes", f"At most {MAX_QUOTE_CODES} codes per request", max=MAX_QUOTE_CODES
        )
    symbols = [lookup(code) for code in codes]
    unknown = [code for code, symbol in zip(codes, symbols, strict=True) if not symbol]
    if unknown:
        raise MarketError(
            404, "SYMBOL_NOT_FOUND", "Invalid Symbol Code", {"codes": unknown}
        )
    if _bool(request.query, "long_poll", False):
        await _long_poll(request, int(request[_NOW]) + 1)
    now = request[_NOW]
    data = [quote(symbol, now) for symbol in symbols if symbol is not None]
    return _dumps({"last_update": _ms(now), "total_items": len(data), "data": data})


async def _search(request: web.Request) -> bytes:
    query = request.query
    page = _int(query, "page", default=1, low=1, high=10_000)
    type_ = query.get("type") or None
    country = query.get("country") or None
    found = search(query.get("query", ""), type_=type_, country=country)
    start = (page - 1) * SEARCH_PAGE_SIZE
    return _dumps(
        {
            "current_page": page,
            "has_more": len(found) > start + SEARCH_PAGE_SIZE,
            "symbols": found[start : start + SEARCH_PAGE_SIZE],
        }
    )


async def _exchanges(request: web.Request) -> bytes:
    found = exchanges()
    return _dumps({"total_items": len(found), "exchanges": found})


def _no_data(symbol: Symbol, what: str) -> MarketError:
    return MarketError(
        404, "NO_DATA", f"No {what} for {symbol.code}", {"symbol": symbol.code}
    )


async def _fundamentals(request: web.Request) -> bytes:
    symbol = _path_symbol(request)
    body = fundamentals(symbol, request[_NOW])
    if body is None:
        raise _no_data(symbol, "fundamental data")
    return _dumps(body)


async def _fundamentals_series(request: web.Request) -> bytes:
    symbol = _path_symbol(request)
    query = request.query
    period = _choice(query, "period", ("quarterly", "annual"), default="quarterly")
    count = _int(query, "limit", default=8, low=1, high=40)
    body = fundamentals_series(symbol, request[_NOW], period=period, count=count)
    if body is None:
        raise _no_data(symbol, "fundamental data")
    return _dumps(body)


async def _contracts(request: web.Request) -> bytes:
    symbol = _path_symbol(request)
    body = contracts(symbol, request[_NOW])
    if body is None:
        raise _no_data(symbol, "futures contracts")
    return _dumps(body)


async def _session(request: web.Request) -> bytes:
    return _dumps(session_details(_path_symbol(request), request[_NOW]))


# --- news, documents, calendars -------------------------------------------------------


async def _newsfeed(request: web.Request) -> bytes:
    member: Member = request[_MEMBER]
    if not member.plan.limits.newsfeed:
        raise _not_in_plan("the news feed", lambda f: True)
    query = request.query
    limit = _int(query, "limit", default=20, low=1, high=100)
    code = query.get("code") or None
    if code is not None:
        code = _symbol(code).code
    now = request[_NOW]
    items = news(now, limit=limit, code=code)
    return _dumps({"last_update": _ms(now), "total_items": len(items), "data": items})


async def _documents(request: web.Request) -> bytes:
    query = request.query
    code = query.get("code")
    if not code:
        raise _invalid("code", "'code' is required")
    symbol = _symbol(code)
    type_ = query.get("type") or None
    if type_ is not None:
        type_ = _choice(query, "type", DOCUMENT_TYPES)
    limit = _int(query, "limit", default=20, low=1, high=50)
    found = documents(symbol, request[_NOW], type_=type_, limit=limit)
    return _dumps({"code": symbol.code, "total_items": len(found), "data": found})


def _known_kind(request: web.Request, kinds: tuple[str, ...]) -> str:
    kind = request.match_info["kind"]
    if kind not in kinds:
        raise MarketError(
            404, "NOT_FOUND", "Not Found", {"path": request.path, "kinds": list(kinds)}
        )
    return kind


async def _calendar(request: web.Request) -> bytes:
    kind = _known_kind(request, CALENDARS)
    query = request.query
    now = request[_NOW]
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    start = _date(query, "from", today - dt.timedelta(days=7))
    end = _date(query, "to", start + dt.timedelta(days=37))
    if end < start:
        raise _invalid("to", "'to' must not be before 'from'")
    if (end - start).days > MAX_CALENDAR_DAYS:
        raise _invalid(
            "to", f"At most {MAX_CALENDAR_DAYS} days per request", max=MAX_CALENDAR_DAYS
        )
    items = calendar_items(kind, start, end, now)
    code = query.get("code")
    if code:
        wanted = _symbol(code).code
        items = [item for item in items if item.get("code") == wanted]
    country = query.get("country")
    if country and kind == "events":
        items = [item for item in items if item["country"] == country.upper()]
    return _dumps(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "total_items": len(items),
            "data": items,
        }
    )


# --- screeners and options ------------------------------------------------------------


def _delay(request: web.Request) -> int:
    return 0 if _features(request).realtime_screener else DELAYED_SECONDS


async def _screener(request: web.Request) -> bytes:
    kind = _known_kind(request, SCREENERS)
    limit = _int(request.query, "limit", default=100, low=1, high=1000)
    delay = _delay(request)
    now = request[_NOW]
    rows = screener(kind, now, delay=delay)[:limit]
    return _dumps(
        {
            "last_update": _ms(now),
            "delay_seconds": delay,
            "total_items": len(rows),
            "data": rows,
        }
    )


def _underlying(request: web.Request) -> Symbol:
    code = request.query.get("code")
    if not code:
        raise _invalid("code", "'code' is required")
    return _symbol(code)


async def _options_list(request: web.Request) -> bytes:
    symbol = _underlying(request)
    codes = option_codes(symbol, request[_NOW]) if symbol.code in OPTIONABLE else []
    return _dumps({"code": symbol.code, "total_items": len(codes), "codes": codes})


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
            raise _invalid("sortBy", f"'sortBy' must be one of {', '.join(_SORTABLE)}")
        order = _choice(query, "sort", ("asc", "desc"), default="asc")
        rows = sorted(rows, key=lambda row: row[sort_by], reverse=order == "desc")
    return _dumps(
        {
            "code": symbol.code,
            **echo,
            "delay_seconds": _delay(request),
            "total_items": len(rows),
            "data": rows,
        }
    )


def _optionable(symbol: Symbol) -> bool:
    return symbol.code in OPTIONABLE


async def _options_expiration(request: web.Request) -> bytes:
    symbol = _underlying(request)
    raw = request.query.get("expiration")
    if not raw:
        raise _invalid("expiration", "'expiration' is required (YYYY-MM-DD)")
    expiration = _date(request.query, "expiration", dt.date.min)
    rows = (
        option_chain(
            symbol, request[_NOW], delay=_delay(request), expiration=expiration
        )
        if _optionable(symbol)
        else []
    )
    return _chain_body(request, symbol, rows, expiration=expiration.isoformat())


async def _options_strike(request: web.Request) -> bytes:
    symbol = _underlying(request)
    raw = request.query.get("strike")
    try:
        strike = float(raw) if raw else None
    except ValueError:
        strike = None
    if strike is None or not strike > 0:
        raise _invalid("strike", "'strike' must be a positive number")
    rows = (
        option_chain(symbol, request[_NOW], delay=_delay(request), strike=strike)
        if _optionable(symbol)
        else []
    )
    return _chain_body(request, symbol, rows, strike=strike)
