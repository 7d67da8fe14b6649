"""The simulated InsightSentry Organization API, and the sandbox's control API.

`create_app(state)` builds one aiohttp application: the Organization API under
`/api/organization/` (organization key, fault injection), the market data REST API under
`/v3/` (member keys; `sandbox.market`), the market data WebSockets `/live` and
`/newsfeed` (`sandbox.live`) and the control API under `/_sandbox/` (no key, loopback
only). Other simulated upstreams are added the same way: a sub-application
with its own auth middleware plus fault injection.

Handlers only parse and serialise; the rules live in `sandbox.state.SandboxState`.
Importable without Django settings.
"""

import asyncio
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from orgportal import clock
from sandbox import live
from sandbox.aries import routes as aries
from sandbox.market.app import MARKET_PREFIX, market_app
from sandbox.market.gate import send_truncated
from sandbox.state.errors import SandboxError
from sandbox.state.faults import FAULT_SCOPES, Faults
from sandbox.state.formats import format_credits
from sandbox.state.members import MAX_UID_LENGTH
from sandbox.state.plans import REGULAR_PRICES, TIER_LIMITS
from sandbox.state.store import SandboxState

__all__ = ["STATE_KEY", "SandboxState", "create_app", "fault_middleware"]

ORG_PREFIX = "/api/organization"
CONTROL_PREFIX = "/_sandbox"
MAX_BODY_BYTES = 64 * 1024
MAX_PAGE_LIMIT = 100
STATE_KEY = web.AppKey("sandbox_state", SandboxState)
# Seconds a market data long poll may be told to hold at most.
MAX_LONG_POLL_SECONDS = 60

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(state: SandboxState) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[_json_errors, _body_limit]
    )
    app[STATE_KEY] = state
    app.add_subapp(ORG_PREFIX, _org_app())
    app.add_subapp(MARKET_PREFIX, market_app(state))
    live.install(app, state)
    aries.install(app, state)
    app.add_subapp(CONTROL_PREFIX, _control_app())
    return app


# --- responses and errors -----------------------------------------------------------


def _ok(payload: Mapping[str, Any]) -> web.Response:
    return web.json_response({"success": True, **payload})


def _error_response(error: SandboxError) -> web.Response:
    return web.json_response(
        {
            "success": False,
            "error": error.message,
            "code": error.code,
            "details": error.details,
        },
        status=error.status,
        headers=error.headers,
    )


_HTTP_CODES = {
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
}


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as the upstream's JSON error shape."""
    try:
        return await handler(request)
    except SandboxError as error:
        return _error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "HTTP_ERROR")
        return _error_response(SandboxError(exc.status, code, exc.reason))


def _too_large() -> SandboxError:
    return SandboxError(
        413,
        "PAYLOAD_TOO_LARGE",
        "Request body too large",
        {"max_bytes": MAX_BODY_BYTES},
    )


@web.middleware
async def _body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    # aiohttp enforces client_max_size only when a handler reads the body; this refuses
    # a declared oversize body on every route, read or not.
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large()
    return await handler(request)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _invalid("body", "Request body must be a JSON object")
    return body


def _invalid(field: str, message: str) -> SandboxError:
    return SandboxError(400, "INVALID_REQUEST", message, {"field": field})


def _string(
    body: Mapping[str, Any],
    field: str,
    *,
    required: bool,
    max_length: int | None = None,
) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise _invalid(field, f"'{field}' is required")
        return None
    if not isinstance(value, str):
        raise _invalid(field, f"'{field}' must be a string")
    if required and not value:
        raise _invalid(field, f"'{field}' must not be empty")
    if max_length is not None and len(value) > max_length:
        raise _invalid(field, f"'{field}' must be at most {max_length} characters")
    return value


def _query_int(
    request: web.Request, name: str, *, default: int, low: int, high: int | None
) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise _invalid(name, f"'{name}' must be an integer {bounds}")
    return value


def _state(request: web.Request) -> SandboxState:
    return request.config_dict[STATE_KEY]


# --- fault injection (shared by every simulated upstream) ---------------------------


@web.middleware
async def fault_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Injects the configured faults: added latency; a 503 that applies nothing; or the
    request applied and its response held back so the caller times out unknowing, or
    cut off mid-body."""
    state = _state(request)
    faults: Faults = state.faults
    if not faults.active or not faults.covers("org", request.method):
        return await handler(request)
    kind = await state.fault_begin(faults)
    response = await handler(request)
    if kind == "timeout":
        await asyncio.sleep(faults.hang_seconds)
    if kind == "drop" and isinstance(response, web.Response):
        body = response.body if isinstance(response.body, bytes) else b""
        return await send_truncated(
            request, body, status=response.status, headers=response.headers
        )
    return response


# --- Organization API ---------------------------------------------------------------


@web.middleware
async def _org_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    expected = _state(request).org_key
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        key.strip().encode(), expected.encode()
    ):
        raise SandboxError(
            401, "UNAUTHORIZED", "Invalid or missing organization API key"
        )
    return await handler(request)


def _org_app() -> web.Application:
    app = web.Application(middlewares=[_org_auth, fault_middleware])
    app.add_routes(
        [
            web.get("/plans", _plans),
            web.post("/members/create", _member_create),
            web.get("/members", _members_list),
            web.get("/members/{uid}", _member_get),
            web.post("/members/{uid}/update", _member_update),
            web.post("/members/{uid}/cancel", _member_cancel),
            web.delete("/members/{uid}", _member_delete),
        ]
    )
    return app


async def _plans(request: web.Request) -> web.Response:
    return _ok(_state(request).plans_json())


async def _member_create(request: web.Request) -> web.Response:
    body = await _json_body(request)
    uid = _string(body, "uid", required=True, max_length=MAX_UID_LENGTH)
    plan = _string(body, "plan", required=True)
    full_name = _string(body, "full_name", required=False)
    state = _state(request)
    member = state.member_create(uid=uid, plan=plan, full_name=full_name or "")
    return _ok({"member": state.member_json(member)})


async def _members_list(request: web.Request) -> web.Response:
    page = _query_int(request, "page", default=1, low=1, high=None)
    limit = _query_int(request, "limit", default=10, low=1, high=MAX_PAGE_LIMIT)
    state = _state(request)
    members, total = state.members_page(page=page, limit=limit)
    return _ok(
        {
            "members": [state.member_json(member) for member in members],
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": -(-total // limit),
        }
    )


async def _member_get(request: web.Request) -> web.Response:
    state = _state(request)
    member = state.member(request.match_info["uid"])
    return _ok({"member": state.member_json(member)})


async def _member_update(request: web.Request) -> web.Response:
    body = await _json_body(request)
    plan = _string(body, "plan", required=True)
    full_name = _string(body, "full_name", required=False)
    state = _state(request)
    member = state.member_update(
        uid=request.match_info["uid"], plan=plan, full_name=full_name
    )
    return _ok({"member": state.member_json(member)})


async def _member_cancel(request: web.Request) -> web.Response:
    state = _state(request)
    member = state.member_cancel(uid=request.match_info["uid"])
    return _ok({"member": state.member_json(member)})


async def _member_delete(request: web.Request) -> web.Response:
    _state(request).member_delete(uid=request.match_info["uid"])
    return _ok({"message": "Member deleted"})


# --- control API --------------------------------------------------------------------


@web.middleware
async def _loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Unauthenticated by design, so it must not be reachable from another host even
    # when the sandbox listens on every interface.
    if not _is_loopback(request.remote):
        raise SandboxError(403, "FORBIDDEN", "The control API answers loopback only")
    return await handler(request)


def _is_loopback(remote: str | None) -> bool:
    if remote is None:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _control_app() -> web.Application:
    app = web.Application(middlewares=[_loopback_only])
    app.add_routes(
        [
            web.get("/faults", _faults_get),
            web.post("/faults", _faults_set),
            web.post("/reset", _reset),
            web.get("/state", _state_get),
            web.post("/credits", _credits_add),
            web.post("/members/{uid}/expire", _member_expire),
            web.post("/plans", _plan_add),
            web.get("/usage", _usage_get),
            web.get("/market", _market_get),
            web.post("/market", _market_set),
            web.get("/live", _live_get),
            web.post("/live", _live_set),
        ]
    )
    return app


def _faults_json(state: SandboxState) -> dict[str, Any]:
    return {**state.faults.as_json(), "seed": state.fault_seed}


async def _faults_get(request: web.Request) -> web.Response:
    return _ok({"faults": _faults_json(_state(request))})


def _rate(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(field, f"'{field}' must be a number between 0 and 1")
    if not 0 <= value <= 1:
        raise _invalid(field, f"'{field}' must be a number between 0 and 1")
    return float(value)


def _non_negative(value: Any, field: str, kind: type = float) -> Any:
    allowed = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed) or value < 0:
        raise _invalid(field, f"'{field}' must be a non-negative {kind.__name__}")
    return kind(value)


async def _faults_set(request: web.Request) -> web.Response:
    body = await _json_body(request)
    changes: dict[str, Any] = {}
    for field, value in body.items():
        if field in ("error_rate", "timeout_rate", "drop_rate"):
            changes[field] = _rate(value, field)
        elif field == "latency_ms":
            changes[field] = _non_negative(value, field, int)
        elif field == "hang_seconds":
            changes[field] = _non_negative(value, field)
        elif field == "retry_after":
            changes[field] = None if value is None else _non_negative(value, field)
        elif field == "seed":
            if isinstance(value, bool) or not isinstance(value, int):
                raise _invalid(field, "'seed' must be an integer")
            changes[field] = value
        elif field == "scope":
            if value not in FAULT_SCOPES:
                raise _invalid(
                    field, f"'scope' must be one of {', '.join(FAULT_SCOPES)}"
                )
            changes[field] = value
        else:
            raise _invalid(field, f"Unknown fault setting '{field}'")
    state = _state(request)
    state.faults_set(**changes)
    return _ok({"faults": _faults_json(state)})


async def _reset(request: web.Request) -> web.Response:
    state = _state(request)
    state.reset()
    return _ok({"balance": format_credits(state.balance)})


async def _state_get(request: web.Request) -> web.Response:
    state = _state(request)
    return _ok(
        {
            "member_count": len(state.members),
            "balance": format_credits(state.balance),
            "faults": _faults_json(state),
            "market": _market_json(state),
        }
    )


async def _credits_add(request: web.Request) -> web.Response:
    body = await _json_body(request)
    raw = body.get("credits")
    try:
        # Strings or integers only: a float would not say exactly which hundredths.
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise InvalidOperation
        amount = Decimal(raw)
        if not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise InvalidOperation
    except InvalidOperation:
        raise _invalid(
            "credits", "'credits' must be a decimal string with at most two places"
        ) from None
    balance = _state(request).credits_add(amount=int(amount * 100))
    return _ok({"balance": format_credits(balance)})


async def _member_expire(request: web.Request) -> web.Response:
    state = _state(request)
    member = state.member_expire(uid=request.match_info["uid"])
    return _ok({"member": state.member_json(member)})


_PLAN_NUMBERS = ("rate_limit", "quota", "websocket_symbols", "websocket_connections")


async def _plan_add(request: web.Request) -> web.Response:
    """Add a custom plan to the catalogue (e.g. a benchmark's unthrottled plan); it
    lasts until the next reset."""
    body = await _json_body(request)
    name = _string(body, "name", required=False) or _string(body, "id", required=True)
    feature = _string(body, "feature", required=True)
    config: dict[str, Any] = {"name": name, "feature": feature}
    price = body.get("price", 0)
    if isinstance(price, bool) or not isinstance(price, int | float | str):
        raise _invalid("price", "'price' must be a number of credits")
    try:
        amount = Decimal(str(price))
        if not amount.is_finite() or amount < 0:
            raise InvalidOperation
    except InvalidOperation:
        raise _invalid("price", "'price' must be a non-negative number") from None
    config["price"] = price
    for field in _PLAN_NUMBERS:
        if field in body:
            config[field] = _non_negative(body[field], field, int)
    if config.get("rate_limit") == 0:
        raise _invalid("rate_limit", "'rate_limit' must be at least 1")
    if feature not in TIER_LIMITS:
        raise _invalid("feature", f"'feature' must be one of {', '.join(TIER_LIMITS)}")
    if name in REGULAR_PRICES:
        raise _invalid("name", f"'{name}' is a regular plan")
    plan = _state(request).add_custom_plan(config)
    return _ok({"plan": plan.as_json()})


async def _usage_get(request: web.Request) -> web.Response:
    """Members' market data REST usage; `?uid=` for one member."""
    state = _state(request)
    now = clock.now().timestamp()
    uid = request.query.get("uid")
    members = [state.member(uid)] if uid is not None else list(state.members.values())
    return _ok({"usage": [state.usage_json(member, now=now) for member in members]})


def _market_json(state: SandboxState) -> dict[str, Any]:
    return {"long_poll_seconds": state.long_poll_seconds}


async def _market_get(request: web.Request) -> web.Response:
    return _ok({"market": _market_json(_state(request))})


async def _market_set(request: web.Request) -> web.Response:
    body = await _json_body(request)
    state = _state(request)
    for field, value in body.items():
        if field != "long_poll_seconds":
            raise _invalid(field, f"Unknown market setting '{field}'")
        seconds = _non_negative(value, field)
        if seconds > MAX_LONG_POLL_SECONDS:
            raise _invalid(field, f"'{field}' must be at most {MAX_LONG_POLL_SECONDS}")
        state.long_poll_seconds = seconds
    return _ok({"market": _market_json(state)})


async def _live_get(request: web.Request) -> web.Response:
    return _ok(live.control_json(request.config_dict[live.HUB_KEY]))


async def _live_set(request: web.Request) -> web.Response:
    """Change WebSocket settings and inject faults (fields: `sandbox.live_config`)."""
    body = await _json_body(request)
    hub = request.config_dict[live.HUB_KEY]
    await hub.control(body)
    return _ok(live.control_json(hub))
