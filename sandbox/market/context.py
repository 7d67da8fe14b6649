"""What every market data handler shares: the refusal type, the request's state,
member and time, JSON bytes, and running work off the event loop or after a long poll."""

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from orgportal import clock
from sandbox.state.errors import SandboxError
from sandbox.state.members import Member
from sandbox.state.store import SandboxState

JSON = "application/json"

STATE_KEY = web.AppKey("market_state", SandboxState)
MEMBER_KEY = web.RequestKey("market_member", Member)
# The Unix time a handler answers for: when the request arrived, or after a long poll.
NOW_KEY = web.RequestKey("market_now", float)


class MarketError(SandboxError):
    """A refusal of the market data API, answered as `{"error", "code", "details"}`
    (no "success" key: that is the Organization API's dialect)."""


def state_of(request: web.Request) -> SandboxState:
    return request.config_dict[STATE_KEY]


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def ms(now: float) -> int:
    return int(now * 1000)


async def off_loop(heavy: bool, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """Run big computations in a worker thread so the event loop keeps answering."""
    if not heavy:
        return fn(*args, **kw)
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: fn(*args, **kw)
    )


async def hold_long_poll(request: web.Request, until: float) -> None:
    """Hold until `until` (Unix seconds) or the sandbox's long-poll limit, then take
    the time again."""
    state = state_of(request)
    wait = min(until - request[NOW_KEY], state.long_poll_seconds)
    if wait > 0:
        await asyncio.sleep(wait)
    request[NOW_KEY] = clock.now().timestamp()
