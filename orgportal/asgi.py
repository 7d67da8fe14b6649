"""The web process: Django for the portal and REST API, and beside it the lean gateway
handlers for the hot paths (market data REST `/v3/...`, the market data WebSockets
`/live` and `/newsfeed`, the account stream `/v1/accounts/ws`), which never enter
Django's request cycle. The REST API under /api/organization/ runs in Django with
middleware of its own, in one worker thread per request (orgportal.apihandler).

The gateways share one Runtime (upstream session, Redis, limiter, member cache, meter):
started at lifespan startup (or by the first request when the server sends no lifespan
events), stopped at shutdown after the gateways."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")

from orgportal import apihandler  # noqa: E402
from orgportal.bodylimit import BodyLimit  # noqa: E402

portal_application = get_asgi_application()
api_application = apihandler.ApiHandler()  # loads its middleware: Django is set up


async def _django(scope, receive, send):
    """The REST API in its own request cycle (orgportal.apihandler); the portal, the
    API's schema and docs, admin, static files and ops in Django's."""
    if scope["path"].startswith(apihandler.PREFIX):
        return await api_application(scope, receive, send)
    return await portal_application(scope, receive, send)


# Only Django reads request bodies: the market gateway serves GET and never calls
# `receive`, so its hot path skips the wrapper.
django_application = BodyLimit(_django)

from accountstream.gateway import PATH as ACCOUNTS_PATH  # noqa: E402
from accountstream.gateway import AccountGateway  # noqa: E402
from marketdata.gateway import MarketGateway  # noqa: E402  (needs Django set up)
from marketdata.live.gateway import LiveGateway  # noqa: E402
from marketdata.runtime import Runtime  # noqa: E402

runtime = Runtime()
market_gateway = MarketGateway(runtime)
live_gateway = LiveGateway(runtime)
account_gateway = AccountGateway(runtime)


async def application(scope, receive, send):
    kind = scope["type"]
    if kind == "http" and scope["path"].startswith("/v3/"):
        return await market_gateway(scope, receive, send)
    if kind == "websocket":
        if scope["path"] == ACCOUNTS_PATH:
            return await account_gateway(scope, receive, send)
        return await live_gateway(scope, receive, send)
    if kind == "lifespan":
        return await _lifespan(receive, send)
    return await django_application(scope, receive, send)


_THRESHOLDS = gc.get_threshold()


def _collect_rarely() -> None:
    """The garbage collector's full passes stop the event loop for as long as they
    walk every object: 90-140 ms at 25,000 account events/s (bench/account_streams.py,
    measured with gc.callbacks). What is loaded by now (Django, the apps, the
    gateways) lives as long as the process: collected once, then out of the
    collector's sight; and a full pass waits for 1,000 (not 10) middle-generation
    passes. Young passes stay as they are (under 5 ms each); reference counting frees
    everything without cycles at once whatever the thresholds."""
    gc.collect()
    gc.freeze()
    young, middle, _ = _THRESHOLDS
    gc.set_threshold(young, middle, 1000)


def _collect_as_before() -> None:
    """At shutdown (a process may start a server again, tests do): what was frozen is
    collectable again, and garbage it held (a dead thread's database connection, say)
    is collected now, not at some later full pass."""
    gc.unfreeze()
    gc.set_threshold(*_THRESHOLDS)
    gc.collect()


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await runtime.startup()
                await market_gateway.startup()
                await live_gateway.startup()
                await account_gateway.startup()
                _collect_rarely()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await account_gateway.shutdown()
            await live_gateway.shutdown()
            await market_gateway.shutdown()
            await runtime.shutdown()
            _collect_as_before()
            await send({"type": "lifespan.shutdown.complete"})
            return
