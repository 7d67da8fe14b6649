"""Helpers of the WebSocket gateway tests: a client that keeps what it was sent."""

import asyncio
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


def ws_url(http_url: str, path: str = "/live") -> str:
    return http_url.replace("http://", "ws://", 1) + path


def subscription(key, *items):
    return json.dumps({"api_key": key, "subscriptions": list(items)})


def series(code="NASDAQ:AAPL", **kw):
    return {
        "code": code,
        "type": "series",
        "bar_type": "minute",
        "bar_interval": 1,
        **kw,
    }


class Frames:
    """Reads a connection in the background; frames kept as parsed JSON (or text)."""

    def __init__(self, ws):
        self.ws = ws
        self.items: list = []
        self.closed = asyncio.get_running_loop().create_future()
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                try:
                    self.items.append(json.loads(raw))
                except ValueError:
                    self.items.append(raw)
                self._new.set()
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            self.closed.set_result(
                (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")
            )
            self._new.set()

    async def wait_for(self, predicate, timeout=5.0):
        """The first frame (from the start) matching `predicate`."""
        deadline = asyncio.get_running_loop().time() + timeout
        seen = 0
        while True:
            for item in self.items[seen:]:
                if predicate(item):
                    return item
            seen = len(self.items)
            if self.closed.done():
                raise AssertionError(
                    f"closed {self.closed.result()} before a match; got {self.items[-5:]}"
                )
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(
                    f"no matching frame in {timeout} s; last {self.items[-5:]}"
                )
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except TimeoutError:
                pass

    def messages(self):
        return [
            i["message"] for i in self.items if isinstance(i, dict) and "message" in i
        ]

    def data(self):
        return [
            i
            for i in self.items
            if isinstance(i, dict) and ("series" in i or "data" in i)
        ]

    async def close_code(self, timeout=8.0):
        return await asyncio.wait_for(asyncio.shield(self.closed), timeout)


async def open_live(url, key, *items, path="/live"):
    ws = await connect(ws_url(url, path), max_size=None)
    frames = Frames(ws)
    if path == "/newsfeed":
        await ws.send(json.dumps({"api_key": key}))
    elif items:
        await ws.send(subscription(key, *items))
    return ws, frames


def is_series(n=None):
    return lambda m: (
        isinstance(m, dict) and "series" in m and (n is None or len(m["series"]) == n)
    )


def has_message(text):
    return lambda m: isinstance(m, dict) and text in str(m.get("message", ""))


async def close_all(opened) -> None:
    """Close each connection of `open_live` answers."""
    for ws, _ in opened:
        await ws.close()


async def open_at_once(urls: list[str], key: str, count: int) -> tuple[list, list]:
    """Open `count` /live connections at once, spread over `urls`; after a second,
    (those still open, the close codes of those refused)."""
    opened = await asyncio.gather(
        *(open_live(urls[i % len(urls)], key, series()) for i in range(count))
    )
    await asyncio.sleep(1.0)
    refused = [f.closed.result() for _, f in opened if f.closed.done()]
    still = [(ws, f) for ws, f in opened if not f.closed.done()]
    return still, refused
