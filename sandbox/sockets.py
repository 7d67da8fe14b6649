"""What the sandbox's WebSocket endpoints share (`/live` and `/newsfeed` in
`sandbox.live`, the accounts WebSocket in `sandbox.aries.hub`): the upgrade (refused
while a fault says so), closing within a deadline, and cutting connections.

A connection here is anything with `ws` (the aiohttp response), `transport` (None
once gone) and `closing` (no more frames once set)."""

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Iterable
from typing import Any

from aiohttp import web

from sandbox.state.errors import SandboxError

__all__ = [
    "CLOSE_TIMEOUT",
    "GOING_AWAY",
    "POLICY",
    "accept",
    "close",
    "cut_all",
    "json_object",
    "shut_down",
]

POLICY = 1008
GOING_AWAY = 1001
# Seconds a closing handshake may take before the connection is cut.
CLOSE_TIMEOUT = 2.0
MAX_FRAME_BYTES = 1024 * 1024


def json_object(text: str) -> dict[str, Any] | None:
    """A text frame's JSON object; None when it is not one (the endpoints ignore
    such frames)."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def accept(request: web.Request, refuse_until: float) -> web.WebSocketResponse:
    """The upgraded connection; 503 SANDBOX_FAULT before `refuse_until` (monotonic)."""
    if time.monotonic() < refuse_until:
        raise SandboxError(
            503, "SANDBOX_FAULT", "Sandbox injected fault: upgrades refused"
        )
    ws = web.WebSocketResponse(
        autoping=False,  # pings are answered by the endpoint, so a stall withholds them
        compress=False,
        timeout=CLOSE_TIMEOUT,
        max_msg_size=MAX_FRAME_BYTES,
    )
    await ws.prepare(request)
    return ws


async def close(conn: Any, code: int, reason: str) -> None:
    """Close with `code` and `reason`; cut the connection if the closing handshake does
    not finish within CLOSE_TIMEOUT."""
    conn.closing = True
    try:
        await asyncio.wait_for(
            conn.ws.close(code=code, message=reason.encode()), CLOSE_TIMEOUT
        )
    except (TimeoutError, ConnectionError):
        if conn.transport is not None:
            conn.transport.abort()


def cut_all(conns: Iterable[Any]) -> None:
    """Cut every connection at once: no close frame."""
    for conn in list(conns):
        conn.closing = True
        if conn.transport is not None:
            conn.transport.abort()


async def shut_down(closing: Iterable[Awaitable[None]], conns: Iterable[Any]) -> None:
    """The `closing` handshakes (the server is stopping) for at most half of
    CLOSE_TIMEOUT, then every connection still open is cut."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*closing, return_exceptions=True), CLOSE_TIMEOUT / 2
        )
    cut_all(conns)
