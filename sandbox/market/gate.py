"""The middleware every market data request passes: member key, injected faults,
rate limit and quota, the answer cache of the current second, and the applied faults."""

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from orgportal import clock
from sandbox.market.context import JSON, MEMBER_KEY, NOW_KEY, MarketError, dumps
from sandbox.orgapi.context import http_refusal
from sandbox.state.errors import SandboxError
from sandbox.state.members import Member
from sandbox.state.store import SandboxState

# Bytes of answers kept for the current second; past this the cache starts over.
CACHE_BYTES = 64 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[bytes]]


class SecondCache:
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


def gate_middleware(
    state: SandboxState, cache: SecondCache
) -> Callable[..., Awaitable[Any]]:
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
            return _error_response(http_refusal(exc, MarketError))
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
    request[MEMBER_KEY] = member
    return member


async def _answer(
    request: web.Request,
    handler: Handler,
    member: Member,
    now: float,
    cache: SecondCache,
) -> bytes:
    """The handler's bytes, or the same bytes as an identical request this second."""
    key = (request.raw_path, member.plan.feature)
    # A long poll waits for fresh data, never for what is cached.
    if "long_poll=" not in request.raw_path:
        hit = cache.get(key, int(now))
        if hit is not None:
            return hit
    request[NOW_KEY] = now
    body = await handler(request)
    cache.put(key, int(request[NOW_KEY]), body)
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
        body=dumps(body),
        status=error.status,
        headers={"Content-Type": JSON, **error.headers},
    )
