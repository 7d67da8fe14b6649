"""What every Organization and control API handler shares: the state, the handler
type and the success envelope."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from sandbox.state.store import SandboxState

STATE_KEY = web.AppKey("sandbox_state", SandboxState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ok(payload: Mapping[str, Any]) -> web.Response:
    return web.json_response({"success": True, **payload})


def state_of(request: web.Request) -> SandboxState:
    return request.config_dict[STATE_KEY]
