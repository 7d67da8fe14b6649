"""The sandbox's control API under `/_sandbox/` (loopback only, no key): faults, reset,
state, credits, custom plans, usage, market and WebSocket settings."""

import ipaddress
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from orgportal import clock
from sandbox import live
from sandbox.orgapi.context import Handler, ok, state_of, sub_app
from sandbox.orgapi.inputs import (
    invalid,
    json_body,
    non_negative,
    string_field,
)
from sandbox.settings import number
from sandbox.state.errors import SandboxError
from sandbox.state.faults import FAULT_SCOPES
from sandbox.state.formats import format_credits
from sandbox.state.plans import REGULAR_PRICES, TIER_LIMITS
from sandbox.state.store import SandboxState

# Seconds a market data long poll may be told to hold at most.
MAX_LONG_POLL_SECONDS = 60


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


def control_app() -> web.Application:
    return sub_app(
        [
            ("GET", "/faults", _faults_get),
            ("POST", "/faults", _faults_set),
            ("POST", "/reset", _reset),
            ("GET", "/state", _state_get),
            ("POST", "/credits", _credits_add),
            ("POST", "/members/{uid}/expire", _member_expire),
            ("POST", "/plans", _plan_add),
            ("GET", "/usage", _usage_get),
            ("GET", "/market", _market_get),
            ("POST", "/market", _market_set),
            ("GET", "/live", _live_get),
            ("POST", "/live", _live_set),
        ],
        [_loopback_only],
    )


def _faults_json(state: SandboxState) -> dict[str, Any]:
    return {**state.faults.as_json(), "seed": state.fault_seed}


async def _faults_get(request: web.Request) -> web.Response:
    return ok({"faults": _faults_json(state_of(request))})


async def _faults_set(request: web.Request) -> web.Response:
    body = await json_body(request)
    changes: dict[str, Any] = {}
    for field, value in body.items():
        if field in ("error_rate", "timeout_rate", "drop_rate"):
            changes[field] = number(field, value, 0, 1)
        elif field == "latency_ms":
            changes[field] = non_negative(value, field, int)
        elif field == "hang_seconds":
            changes[field] = non_negative(value, field)
        elif field == "retry_after":
            changes[field] = None if value is None else non_negative(value, field)
        elif field == "seed":
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(field, "'seed' must be an integer")
            changes[field] = value
        elif field == "scope":
            if value not in FAULT_SCOPES:
                raise invalid(
                    field, f"'scope' must be one of {', '.join(FAULT_SCOPES)}"
                )
            changes[field] = value
        else:
            raise invalid(field, f"Unknown fault setting '{field}'")
    state = state_of(request)
    state.faults_set(**changes)
    return ok({"faults": _faults_json(state)})


async def _reset(request: web.Request) -> web.Response:
    state = state_of(request)
    state.reset()
    return ok({"balance": format_credits(state.balance)})


async def _state_get(request: web.Request) -> web.Response:
    state = state_of(request)
    return ok(
        {
            "member_count": len(state.members),
            "balance": format_credits(state.balance),
            "faults": _faults_json(state),
            "market": _market_json(state),
        }
    )


async def _credits_add(request: web.Request) -> web.Response:
    body = await json_body(request)
    raw = body.get("credits")
    try:
        # Strings or integers only: a float would not say exactly which hundredths.
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise InvalidOperation
        amount = Decimal(raw)
        if not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise InvalidOperation
    except InvalidOperation:
        raise invalid(
            "credits", "'credits' must be a decimal string with at most two places"
        ) from None
    balance = state_of(request).credits_add(amount=int(amount * 100))
    return ok({"balance": format_credits(balance)})


async def _member_expire(request: web.Request) -> web.Response:
    state = state_of(request)
    member = state.member_expire(uid=request.match_info["uid"])
    return ok({"member": state.member_json(member)})


_PLAN_NUMBERS = ("rate_limit", "quota", "websocket_symbols", "websocket_connections")


async def _plan_add(request: web.Request) -> web.Response:
    """Add a custom plan to the catalogue (e.g. a benchmark's unthrottled plan); it
    lasts until the next reset."""
    body = await json_body(request)
    name = string_field(body, "name", required=False) or string_field(
        body, "id", required=True
    )
    feature = string_field(body, "feature", required=True)
    config: dict[str, Any] = {"name": name, "feature": feature}
    price = body.get("price", 0)
    if isinstance(price, bool) or not isinstance(price, int | float | str):
        raise invalid("price", "'price' must be a number of credits")
    try:
        amount = Decimal(str(price))
        if not amount.is_finite() or amount < 0:
            raise InvalidOperation
    except InvalidOperation:
        raise invalid("price", "'price' must be a non-negative number") from None
    config["price"] = price
    for field in _PLAN_NUMBERS:
        if field in body:
            config[field] = non_negative(body[field], field, int)
    if config.get("rate_limit") == 0:
        raise invalid("rate_limit", "'rate_limit' must be at least 1")
    if feature not in TIER_LIMITS:
        raise invalid("feature", f"'feature' must be one of {', '.join(TIER_LIMITS)}")
    if name in REGULAR_PRICES:
        raise invalid("name", f"'{name}' is a regular plan")
    plan = state_of(request).add_custom_plan(config)
    return ok({"plan": plan.as_json()})


async def _usage_get(request: web.Request) -> web.Response:
    """Members' market data REST usage; `?uid=` for one member."""
    state = state_of(request)
    now = clock.now().timestamp()
    uid = request.query.get("uid")
    members = [state.member(uid)] if uid is not None else list(state.members.values())
    return ok({"usage": [state.usage_json(member, now=now) for member in members]})


def _market_json(state: SandboxState) -> dict[str, Any]:
    return {"long_poll_seconds": state.long_poll_seconds}


async def _market_get(request: web.Request) -> web.Response:
    return ok({"market": _market_json(state_of(request))})


async def _market_set(request: web.Request) -> web.Response:
    body = await json_body(request)
    state = state_of(request)
    for field, value in body.items():
        if field != "long_poll_seconds":
            raise invalid(field, f"Unknown market setting '{field}'")
        seconds = non_negative(value, field)
        if seconds > MAX_LONG_POLL_SECONDS:
            raise invalid(field, f"'{field}' must be at most {MAX_LONG_POLL_SECONDS}")
        state.long_poll_seconds = seconds
    return ok({"market": _market_json(state)})


async def _live_get(request: web.Request) -> web.Response:
    return ok(live.control_json(request.config_dict[live.HUB_KEY]))


async def _live_set(request: web.Request) -> web.Response:
    """Change WebSocket settings and inject faults (fields: `sandbox.live_config`)."""
    body = await json_body(request)
    hub = request.config_dict[live.HUB_KEY]
    await hub.control(body)
    return ok(live.control_json(hub))
