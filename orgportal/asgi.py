"""The web process: Django for the portal and REST API, and beside it the lean gateway
handlers for the hot paths (market data REST `/v3/...`), which never enter Django's
request cycle."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")

from orgportal.bodylimit import BodyLimit  # noqa: E402

# Only Django reads request bodies: the market gateway serves GET and never calls
# `receive`, so its hot path skips the wrapper.
django_application = BodyLimit(get_asgi_application())

from marketdata.gateway import MarketGateway  # noqa: E402  (needs Django set up)

market_gateway = MarketGateway()


async def application(scope, receive, send):
    kind = scope["type"]
    if kind == "http" and scope["path"].startswith("/v3/"):
        return await market_gateway(scope, receive, send)
    if kind == "lifespan":
        return await _lifespan(receive, send)
    return await django_application(scope, receive, send)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await market_gateway.startup()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await market_gateway.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
