"""A client that stops reading delays nobody else: it is conflated, then closed with
its own close code."""

import asyncio
import base64
import json
import os
import socket
import time

import httpx
import pytest

from marketdata.live import outbox
from tests.marketdata.live_helpers import is_series, open_live, series

pytestmark = pytest.mark.django_db(transaction=True)
CODES = ["NASDAQ:AAPL", "NASDAQ:MSFT"]
OTHERS = ["NASDAQ:NVDA", "NASDAQ:QQQ"]


def stuck_client(port: int, key: str) -> socket.socket:
    """A WebSocket client with a tiny receive buffer that subscribes, then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    nonce = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert b" 101 " in answer.split(b"\r\n")[0]
    # Each subscription message brings 30,000 bars of history per new series (~3 MB):
    # a few of them fill the socket buffers between the gateway and this client.
    for n in range(3):
        codes = CODES if n % 2 == 0 else OTHERS
        payload = json.dumps(
            {"api_key": key, "subscriptions": [series(c, max_dp=30000) for c in codes]}
        ).encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
        sock.sendall(header + mask + masked)
    return sock


@pytest.fixture
def fast(sandbox, monkeypatch):
    monkeypatch.setattr(outbox, "MAX_BEHIND_S", 2.0)
    httpx.post(
        f"{sandbox.url}/_sandbox/live", json={"updates_per_second": 100}, timeout=5
    )


def test_a_client_that_never_reads_is_conflated_then_closed_and_delays_nobody(
    fast, web, member_key
):
    stuck_key = member_key("stuck", "mega")
    reader_key = member_key("reader", "ultra")
    gateway = __import__("orgportal.asgi", fromlist=["live_gateway"]).live_gateway

    async def scenario():
        sock = await asyncio.to_thread(stuck_client, web.port, stuck_key)
        ws, frames = await open_live(web.url, reader_key, *[series(c) for c in CODES])
        await frames.wait_for(is_series(1))
        lags = []
        started = time.monotonic()
        stuck = None
        while time.monotonic() - started < 12:
            await asyncio.sleep(0.25)
            recent = [m for m in frames.items[-50:] if is_series(1)(m)]
            lags += [time.time() * 1000 - m["last_update"] for m in recent[-5:]]
            clients = [c for group in gateway.clients.values() for c in group]
            stuck = next((c for c in clients if c.token == stuck_key), stuck)
            if stuck is not None and stuck.outbox.closed is not None:
                break
        assert stuck is not None and stuck.outbox.conflated > 0
        assert stuck.outbox.closed[0] == 4008
        assert "too slow" in stuck.outbox.closed[1]
        lags.sort()
        assert lags[len(lags) // 2] < 250  # the reader kept getting fresh data
        mark = len(frames.items)
        await frames.wait_for(lambda m: m in frames.items[mark:] and is_series(1)(m))
        await ws.close()
        sock.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
