"""The baseline for the WebSocket fan-out benchmark: a bare `websockets` relay of one
upstream /live connection, with no auth, limits, per-client buffers or metering.

While any client is subscribed it holds ONE upstream connection, opened with the
organization key and subscribed to every symbol given; each upstream update goes, as
the very text upstream sent, to the clients of its symbol with `broadcast` (no
backpressure: a slow client's frames pile up in its own write buffer). A client sends
the same subscription message as to the gateway, for one symbol (its `api_key` is not
checked); its first frame is the upstream's history of that symbol.

    python bench/bare_ws.py PORT UPSTREAM_WS_URL ORG_KEY SYMBOL[,SYMBOL...]
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import broadcast, serve

UPSTREAM = sys.argv[2].rstrip("/") + "/live"
ORG_KEY = sys.argv[3]
SYMBOLS = sys.argv[4].split(",")
subscribers: dict[str, set] = {code: set() for code in SYMBOLS}
history: dict[str, str] = {}  # the first frame of each symbol (its 100 bars)
relay: asyncio.Task | None = None


async def upstream() -> None:
    """One upstream connection for every symbol; ends when cancelled or when it
    breaks (the next subscribing client opens a new one)."""
    items = [
        {"code": code, "type": "series", "bar_type": "minute", "bar_interval": 1}
        for code in SYMBOLS
    ]
    try:
        async with connect(UPSTREAM, compression=None, max_size=2**22) as ws:
            await ws.send(json.dumps({"api_key": ORG_KEY, "subscriptions": items}))
            async for text in ws:
                if not text.startswith('{"code":"'):
                    continue  # status messages, heartbeats
                code = text[9 : text.index('"', 9)]
                if code not in history:
                    history[code] = text
                broadcast(subscribers.get(code, ()), text)
    finally:
        history.clear()


async def handler(ws) -> None:
    global relay
    symbol = None
    try:
        async for text in ws:
            try:
                message = json.loads(text)
                code = message["subscriptions"][0]["code"]
            except (ValueError, TypeError, KeyError, IndexError):
                continue
            if code not in subscribers:
                await ws.send(json.dumps({"message": "Invalid Symbol Code"}))
                continue
            if symbol is not None:
                subscribers[symbol].discard(ws)
            symbol = code
            if code in history:
                await ws.send(history[code])
            subscribers[code].add(ws)  # before the history: it comes by broadcast
            if relay is None or relay.done():
                relay = asyncio.create_task(upstream())
    finally:
        if symbol is not None:
            subscribers[symbol].discard(ws)
        if relay is not None and not any(subscribers.values()):
            relay.cancel()
            relay = None


async def main() -> None:
    async with serve(
        handler, "127.0.0.1", int(sys.argv[1]), compression=None
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop  # as the gateway runs under uvicorn
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
