"""The upstream connection's frame handling, against a plain WebSocket server: a text
message sent in fragments reaches the routing whole and byte for byte, garbage is
dropped, and the close upstream sends is answered and said."""

import asyncio
import json

from websockets.asyncio.server import serve

from accountstream.upstream import Session
from marketdata.live.link import Backoff

EVENT = {
    "type": "event",
    "id": "ev-1",
    "timestamp": "2026-12-01T00:00:00.000Z",
    "payload": {
        "topic": "account",
        "name": "account.balance",
        "target": "account:ACC7",
        "data": {
            "accountId": "ACC7",
            "cash": "123456789.123456789",
            "fee": "0.00000001",
        },
    },
}


async def upstream(ws) -> None:
    """Aries as far as this test needs: an auth answer, then a fragmented event,
    garbage, a whole event, and a close of its own."""
    request = json.loads(await ws.recv())
    assert request["payload"]["body"] == {"token": "tok-1"}
    await ws.send(
        json.dumps(
            {"type": "event", "payload": {"action": "authSuccess", "id": request["id"]}}
        )
    )
    text = json.dumps(EVENT, separators=(",", ":"))
    await ws.send([text[:10], text[10:100], text[100:]])  # three frames, one message
    await ws.send("not json {")
    await ws.send("[1, 2]")
    await ws.send(text.replace("ev-1", "ev-2"))
    await ws.close(4000, "bye")


async def test_fragments_garbage_and_upstreams_close():
    delivered = []

    async def tokens() -> str:
        return "tok-1"

    async def refresh(rejected: str) -> str:
        raise AssertionError("the token was accepted")

    async with serve(upstream, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        session = Session(
            f"ws://127.0.0.1:{port}/v1/accounts/ws",
            tokens=tokens,
            refresh=refresh,
            deliver=lambda key, text, message, raw: delivered.append((key, raw)),
            reply=lambda *a: None,
            failed=lambda reason: None,
            backoff=Backoff(0.05, 0.1),
        )
        cause = await asyncio.wait_for(session._session_once(), 10)

    text = json.dumps(EVENT, separators=(",", ":"))
    assert delivered == [
        (("account", "ACC7"), text.encode()),
        (("account", "ACC7"), text.replace("ev-1", "ev-2").encode()),
    ]
    assert cause == "closed (4000 bye)"


async def test_an_unreachable_upstream_is_said():
    async def tokens() -> str:
        return "tok-1"

    session = Session(
        "ws://127.0.0.1:9/v1/accounts/ws",
        tokens=tokens,
        refresh=tokens,
        deliver=lambda *a: None,
        reply=lambda *a: None,
        failed=lambda reason: None,
        backoff=Backoff(0.05, 0.1),
    )
    cause = await asyncio.wait_for(session._session_once(), 10)
    assert cause.startswith("unreachable")
