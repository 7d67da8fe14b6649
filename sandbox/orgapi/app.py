"""The root application: every simulated API on one port, and the error shape and body
limit they all answer with."""

from aiohttp import web

from sandbox import live
from sandbox.aries import routes as aries
from sandbox.market.app import MARKET_PREFIX, market_app
from sandbox.orgapi.context import STATE_KEY, Handler, http_refusal
from sandbox.orgapi.control import control_app
from sandbox.orgapi.inputs import MAX_BODY_BYTES, too_large
from sandbox.orgapi.organization import org_app
from sandbox.state.errors import SandboxError
from sandbox.state.store import SandboxState

ORG_PREFIX = "/api/organization"
CONTROL_PREFIX = "/_sandbox"


def create_app(state: SandboxState) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[_json_errors, _body_limit]
    )
    app[STATE_KEY] = state
    app.add_subapp(ORG_PREFIX, org_app())
    app.add_subapp(MARKET_PREFIX, market_app(state))
    live.install(app, state)
    aries.install(app, state)
    app.add_subapp(CONTROL_PREFIX, control_app())
    return app


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
        return _error_response(http_refusal(exc))


@web.middleware
async def _body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    # aiohttp enforces client_max_size only when a handler reads the body; this refuses
    # a declared oversize body on every route, read or not.
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large()
    return await handler(request)
