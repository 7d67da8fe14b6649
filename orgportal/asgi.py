"""The web process: Django for the portal and REST API, and beside it the lean gateway
handlers for the hot paths (market data REST `/v3/...`, the market data WebSockets
`/live` and `/newsfeed`), which never enter Django's request cycle.

The gateways share one Runtime (upstream session, Redis, limiter, member cache, meter):
started at lifespan startup (or by the first request when the server sends no lifespan
events), stopped at shutdown after the gateways."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")

from orgportal.bodylimit import BodyLimit  # noqa: E402

# Only Django reads request bodies: the market gateway serves GET and never calls
# `receive`, so its hot path skips the wrapper.
django_application = BodyLimit(get_asgi_application())

from marketdata.gateway import MarketGateway  # noqa: E402  (needs Django set up)
from marketdata.live.gateway import LiveGateway  # noqa: E402
from marketdata.runtime import Runtime  # noqa: E402

runtime = Runtime()
market_gateway = MarketGateway(runtime)
live_gateway = LiveGateway(runtime)


async def application(scope, receive, send):
    kind = scope["type"]
    if kind == "http" and scope["path"].startswith("/v3/"):
        return await market_gateway(scope, receive, send)
    if kind == "websocket":
        return await live_gateway(scope, receive, send)
    if kind == "lifespan":
        return await _lifespan(receive, send)
    return await django_application(scope, receive, send)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await runtime.startup()
                await market_gateway.startup()
                await live_gateway.startup()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await live_gateway.shutdown()
            await market_gateway.shutdown()
            await runtime.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
