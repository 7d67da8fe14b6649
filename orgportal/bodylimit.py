"""The request-size limit, enforced while the body arrives rather than after.

Django's ASGI handler reads a whole request body (spooling it to disk) before any
middleware runs, so a limit checked in middleware comes after the cost it should
prevent. This wrapper sits in front of Django: a declared Content-Length above the limit
is refused before a byte of the body is read, and a body without one (chunked) is
counted as it is passed on and refused the moment it passes the limit. Either way the
413 carries `Connection: close`, so the server drops the connection instead of reading
and discarding the rest to keep it alive. Before it does, what the client already sent
is read and dropped for a moment (bounded in time and bytes): a socket closed with
unread data is reset, and the reset can destroy the 413 before the client reads it.

The limit is Django's own setting, DATA_UPLOAD_MAX_MEMORY_SIZE (env MAX_REQUEST_BYTES),
read per request; None turns the limit off, as it does for Django.
"""

import asyncio
import json
import logging
import uuid

from django.conf import settings
from django.urls import Resolver404, resolve

from orgportal.apihandler import PREFIX as MIRROR_PREFIX
from orgportal.metrics import HTTP_REQUESTS
from orgportal.middleware import metric_method, route_label

log = logging.getLogger(__name__)

ERROR_CODE = "PAYLOAD_TOO_LARGE"
# How long, and how much, a refused body is still read and dropped before the
# connection closes.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most the configured limit reach `app`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if scope["type"] != "http" or limit is None:
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return
        return await self.app(scope, _Counted(scope, receive, send, limit), send)


class _Counted:
    """The app's `receive`, counting body bytes; past the limit it answers 413 itself
    and tells the app the client has gone (http.disconnect), which every ASGI app must
    already handle by stopping."""

    def __init__(self, scope, receive, send, limit: int) -> None:
        self.scope, self.receive, self.send, self.limit = scope, receive, send, limit
        self.received = 0
        self.refused = False

    async def __call__(self):
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                await _refuse(self.scope, self.receive, self.send, self.limit)
                return {"type": "http.disconnect"}
        return message


def _content_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


async def _refuse(scope, receive, send, limit: int) -> None:
    path = scope.get("path", "")
    body = {
        "error": f"Request body too large (limit {limit} bytes)",
        "code": ERROR_CODE,
        "details": {"limit": limit},
    }
    # The Organization API mirror's errors carry upstream's "success": false.
    if path.startswith(MIRROR_PREFIX):
        body = {"success": False, **body}
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                (b"x-request-id", uuid.uuid4().hex.encode()),
            ],
        }
    )
    # The whole answer goes out now; the response ends (and the connection closes)
    # after the drain.
    await send({"type": "http.response.body", "body": payload, "more_body": True})
    _count(scope, path)
    await _drain(receive)
    await send({"type": "http.response.body", "body": b""})


async def _drain(receive) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LINGER_SECONDS
    drained = 0
    while drained < LINGER_BYTES:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        try:
            message = await asyncio.wait_for(receive(), remaining)
        except TimeoutError:
            return
        if message["type"] != "http.request" or not message.get("more_body"):
            return
        drained += len(message.get("body", b""))


def _count(scope, path: str) -> None:
    # The same counter as Django's requests, labelled by URL pattern, never the raw path.
    try:
        route = route_label(resolve(path))
    except Resolver404:
        route = route_label(None)
    method = metric_method(scope.get("method", ""))
    HTTP_REQUESTS.labels(method=method, route=route, status="4xx").inc()
    log.info("request body over the limit refused", extra={"path": path})
