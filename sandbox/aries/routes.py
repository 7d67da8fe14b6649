"""Mounting the simulated Aries upstream on the sandbox's root application:
`install(app, state)` adds `POST /oauth2/token`, `GET /v1/accounts/ws` and the control
API under `/_sandbox/aries` (see `sandbox.aries`)."""

from aiohttp import web

from sandbox.aries.control import control_routes
from sandbox.aries.oauth import token_route
from sandbox.aries.runtime import RUNTIME_KEY, Runtime
from sandbox.state.store import SandboxState

__all__ = ["WS_PATH", "install"]

WS_PATH = "/v1/accounts/ws"


async def _accounts_ws(request: web.Request) -> web.StreamResponse:
    return await request.config_dict[RUNTIME_KEY].hub.serve(request)


def install(app: web.Application, state: SandboxState) -> Runtime:
    runtime = Runtime(state)
    app[RUNTIME_KEY] = runtime
    app.add_routes(
        [
            token_route(),
            web.get(WS_PATH, _accounts_ws, allow_head=False),
            *control_routes(),
        ]
    )
    app.on_shutdown.append(runtime.shutdown)
    return runtime
