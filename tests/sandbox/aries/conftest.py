"""Helpers for driving the simulated Aries upstream like a real client: brokerage
users from the control API, the accounts WebSocket through the `websockets` client."""

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from sandbox.server import SandboxServer
from tests.sandbox.helpers import WAIT, post_ok, recv_json

WS_PATH = "/v1/accounts/ws"


@pytest.fixture
def control(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The sandbox over HTTP: the control API and the token endpoint."""
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        yield client


@pytest.fixture
def ws_url(sandbox: SandboxServer) -> str:
    return sandbox.url.replace("http://", "ws://") + WS_PATH


@pytest.fixture
def fast(control: httpx.Client) -> dict[str, Any]:
    """Order lifecycles and live P&L candles at test speed."""
    return configure(control, fill_step_seconds=0.02, pnl_every_seconds=0.05)


def configure(control: httpx.Client, **fields: Any) -> dict[str, Any]:
    return post_ok(control, "/_sandbox/aries", fields)


def overview(control: httpx.Client) -> dict[str, Any]:
    return control.get("/_sandbox/aries").json()


def new_user(control: httpx.Client, **fields: Any) -> dict[str, Any]:
    return post_ok(control, "/_sandbox/aries/users", {"accounts": 1, **fields})


def set_price(control: httpx.Client, symbol: str, price: str | None) -> None:
    post_ok(control, "/_sandbox/aries/prices", {"symbol": symbol, "price": price})


def place(
    control: httpx.Client,
    account_id: str,
    side: str,
    qty: str,
    symbol: str = "AAPL",
    **fields: Any,
) -> str:
    """An order placed through the control API (a market order unless `fields` say
    otherwise); its id."""
    order = {"account_id": account_id, "symbol": symbol, "side": side, "qty": qty}
    return post_ok(control, "/_sandbox/aries/orders", {**order, **fields})["ord_id"]


def order_of(control: httpx.Client, ord_id: str) -> dict[str, Any]:
    return control.get(f"/_sandbox/aries/orders/{ord_id}").json()["order"]


def limit(
    control: httpx.Client,
    account_id: str,
    side: str,
    qty: str,
    price: str,
    **fields: Any,
) -> str:
    """A limit order placed through the control API; its id."""
    return place(control, account_id, side, qty, type="LIMIT", price=price, **fields)


def wait_for_order(
    control: httpx.Client, ord_id: str, status: str, timeout: float = WAIT
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order = order_of(control, ord_id)
        if order["ordStatus"] == status or time.monotonic() > deadline:
            assert order["ordStatus"] == status, order
            return order
        time.sleep(0.01)


# --- the WebSocket ------------------------------------------------------------------


async def next_where(
    ws: ClientConnection, wanted: Callable[[dict], bool], timeout: float = WAIT
) -> dict[str, Any]:
    """The next JSON object `wanted` accepts, skipping others (and non-JSON frames)."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(0.01, deadline - time.monotonic())
        raw = await asyncio.wait_for(ws.recv(), left)
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if isinstance(message, dict) and wanted(message):
            return message


def auth_request(token: str, request_id: str = "auth-001", method: str = "post"):
    return {
        "type": "request",
        "id": request_id,
        "payload": {"method": method, "path": "/auth", "body": {"token": token}},
    }


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def authenticate(ws: ClientConnection, token: str, request_id: str = "auth-001"):
    await send(ws, auth_request(token, request_id))
    answer = await recv_json(ws)
    assert answer["payload"].get("action") == "authSuccess", answer
    return answer


async def open_session(url: str, token: str) -> ClientConnection:
    """A connection past authentication. It buffers all it receives, so a test that
    stops reading still sees the server's close."""
    ws = await connect(url, max_queue=None)
    await authenticate(ws, token)
    return ws


async def watch_account(url: str, user: dict[str, Any]) -> tuple[ClientConnection, str]:
    """A session of `user` subscribed to the `account` topic of its first account; the
    connection and that account's id."""
    account_id = user["account_ids"][0]
    ws = await open_session(url, user["access_token"])
    await subscribe(ws, "account", {"accountId": account_id})
    return ws, account_id


async def subscribe(
    ws: ClientConnection,
    topic: str,
    params: dict[str, Any] | None = None,
    request_id: str = "req-002",
) -> dict[str, Any]:
    """Send a subscribe; the reply to it (by id)."""
    message: dict[str, Any] = {"type": "subscribe", "id": request_id}
    payload: dict[str, Any] = {"topic": topic}
    if params is not None:
        payload["params"] = params
    message["payload"] = payload
    await send(ws, message)
    return await next_where(ws, lambda m: m.get("id") == request_id)


def is_event(topic: str, name: str | None = None) -> Callable[[dict], bool]:
    def wanted(message: dict) -> bool:
        payload = message.get("payload") or {}
        return (
            message.get("type") == "event"
            and payload.get("topic") == topic
            and (name is None or payload.get("name") == name)
        )

    return wanted


def is_action(action: str) -> Callable[[dict], bool]:
    return lambda m: (m.get("payload") or {}).get("action") == action


async def account_events_until(ws, ord_id: str, status: str) -> list[dict[str, Any]]:
    """Every `account` event up to the order event of `ord_id` with `status` and the
    balance that ends its change."""
    events = []
    seen = False
    while True:
        message = await next_where(ws, is_event("account"))
        events.append(message["payload"])
        data = message["payload"]["data"]
        seen = seen or (
            message["payload"]["name"] == "account.order"
            and data["ordId"] == ord_id
            and data["ordStatus"] == status
        )
        if seen and message["payload"]["name"] == "account.balance":
            return events


def names(events) -> list[tuple[str, str | None]]:
    return [(e["name"], e["data"].get("ordStatus")) for e in events]


@pytest.fixture
def trader(control, fast):
    """A margin user with 100,000.00 cash, AAPL pinned at 150.45."""
    user = new_user(control, cash="100000.00")
    set_price(control, "AAPL", "150.45")
    return user
