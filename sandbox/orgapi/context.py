"""What every Organization and control API handler shares: the state, the handler
type and the success envelope; and how a sub-application is built from its route
table."""

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from sandbox.state.errors import SandboxError
from sandbox.state.store import SandboxState

STATE_KEY = web.AppKey("sandbox_state", SandboxState)
# The codes of aiohttp's own refusals (no route, wrong method, body too large).
_HTTP_CODES = {
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ok(payload: Mapping[str, Any]) -> web.Response:
    return web.json_response({"success": True, **payload})


def state_of(request: web.Request) -> SandboxState:
    return request.config_dict[STATE_KEY]


def http_refusal(
    exc: web.HTTPException, kind: type[SandboxError] = SandboxError
) -> SandboxError:
    """aiohttp's own refusal (status 400 or more) as the API's error of type `kind`."""
    return kind(exc.status, _HTTP_CODES.get(exc.status, "HTTP_ERROR"), exc.reason)


def sub_app(
    routes: Iterable[tuple[str, str, Handler]], middlewares: Iterable = ()
) -> web.Application:
    """An application answering `routes`, rows of (method, path, handler); a GET
    route answers HEAD too."""
    app = web.Application(middlewares=middlewares)
    app.add_routes(
        [web.route(method, path, handler) for method, path, handler in routes]
    )
    return app
