"""Driving the sandbox like a client of the real upstreams: members through the
Organization API, WebSockets through the `websockets` client."""

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

WAIT = 3.0  # seconds any one expected frame may take


def post_ok(client: httpx.Client, path: str, body: Any) -> Any:
    """POST `body` as JSON, which must succeed; the answer."""
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def create_member(
    org: httpx.Client, uid: str, plan: str = "pro", **fields: str
) -> dict:
    """A member created through the Organization API, as the answer shows it."""
    body = {"uid": uid, "plan": plan, **fields}
    return post_ok(org, "/api/organization/members/create", body)["member"]


def member_key(org: httpx.Client, uid: str, plan: str) -> str:
    """A new member's upstream key (`member.api_key` in the answer)."""
    return create_member(org, uid, plan)["api_key"]


async def recv(ws: ClientConnection, timeout: float = WAIT) -> str:
    return await asyncio.wait_for(ws.recv(), timeout)


async def recv_json(ws: ClientConnection, timeout: float = WAIT) -> Any:
    return json.loads(await recv(ws, timeout))


async def frames_for(ws: ClientConnection, seconds: float) -> list[str]:
    """Every frame received in the next `seconds`."""
    frames: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frames.append(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
    return frames


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server ends the connection; its close code and reason (None
    when it was cut without a close frame)."""
    with pytest.raises(ConnectionClosed) as ended:
        for _ in range(100_000):
            await recv(ws)
    rcvd = ended.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)
