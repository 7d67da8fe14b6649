"""Driving the simulated market data WebSockets (`/live`, `/newsfeed`) and their
control API (`/_sandbox/live`)."""

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.sandbox.helpers import WAIT, post_ok, recv_json

BTC = "BINANCE:BTCUSDT"
ETH = "BINANCE:ETHUSDT"


def configure(org: httpx.Client, **fields: Any) -> dict[str, Any]:
    return post_ok(org, "/_sandbox/live", fields)


def live_state(org: httpx.Client) -> dict[str, Any]:
    return org.get("/_sandbox/live").json()


async def next_where(
    ws: ClientConnection, wanted: Callable[[dict], bool], timeout: float = WAIT
) -> dict[str, Any]:
    """The next JSON frame `wanted` accepts, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        message = await recv_json(ws, max(0.01, deadline - time.monotonic()))
        if isinstance(message, dict) and wanted(message):
            return message


def is_status(message: dict) -> bool:
    return "message" in message


def is_update(code: str) -> Callable[[dict], bool]:
    return lambda m: m.get("code") == code and len(m.get("series", ())) == 1


def minute(code: str, **options: Any) -> dict[str, Any]:
    return {"code": code, "type": "series", "bar_type": "minute", **options}


async def subscribe(
    ws: ClientConnection, key: str, subscriptions: list[dict[str, Any]]
) -> None:
    await ws.send(json.dumps({"api_key": key, "subscriptions": subscriptions}))


async def open_live(
    url: str, key: str, subscriptions: list[dict[str, Any]], **options: Any
) -> ClientConnection:
    """A /live connection past "Connecting..." and "Connected to ...". It buffers all
    it receives: a client that stops reading (flow control) could not see the server's
    close frame, and its close would wait for its timeout."""
    options.setdefault("max_queue", None)
    ws = await connect(url, **options)
    assert await recv_json(ws) == {"message": "Connecting..."}
    await subscribe(ws, key, subscriptions)
    assert await recv_json(ws) == {"message": "Connected to SANDBOX:LOCAL"}
    return ws


async def refused(ws: ClientConnection, message: str) -> dict[str, Any]:
    """The next status message, which must say `message`."""
    answer = await next_where(ws, is_status)
    assert answer["message"] == message, answer
    assert "code" not in answer
    return answer
