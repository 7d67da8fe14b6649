"""The load generator of bench/account_streams.py: processes of a minimal RFC 6455
client speaking the Aries accounts protocol (auth, one `account` subscription), which
record, per event, the time from the envelope's `timestamp` (RFC 3339 with
milliseconds) to receipt, found by a byte search, no JSON parsing. Driven over a pipe
by `Load` in the benchmark's process."""

import asyncio
import calendar
import json
import math
import time
from functools import partial

from _ws_client import Load as _Load
from _ws_client import RawClient, answer_commands, client_frame, close_all, open_into

WORKERS = 2
BINS = 100_000  # latency histogram: 0.1 ms bins up to 10 s
OPEN_AT_ONCE = 50
PATH = "/v1/accounts/ws"
_STAMP = b'"timestamp":"'
__all__ = ["BINS", "WORKERS", "Load"]


_seconds: dict[bytes, int] = {}


def stamp_ms(text: bytes) -> float | None:
    """Unix ms of "YYYY-MM-DDTHH:MM:SS.mmmZ" (the seconds part cached)."""
    head = text[:19]
    second = _seconds.get(head)
    if second is None:
        try:
            parts = time.strptime(head.decode(), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return None
        second = _seconds[head] = calendar.timegm(parts)
        if len(_seconds) > 10_000:
            _seconds.clear()
    if text[19:20] != b".":
        return None
    return second * 1000.0 + int(text[20:23])


class Window:
    def __init__(self, t0: float = math.inf, t1: float = math.inf) -> None:
        self.t0, self.t1 = t0, t1
        self.hist = [0] * BINS
        self.received = 0


class Feed(RawClient):
    """One client: auth with `token`, subscribe to `account`, then events."""

    window = Window()

    def __init__(self, port: int, token: str, account: str) -> None:
        super().__init__(port, PATH)
        auth = {
            "type": "request",
            "id": "auth-1",
            "payload": {"method": "post", "path": "/auth", "body": {"token": token}},
        }
        sub = {
            "type": "subscribe",
            "id": "sub-1",
            "payload": {"topic": "account", "params": {"accountId": account}},
        }
        self.auth = client_frame(1, json.dumps(auth).encode())
        self.subscription = client_frame(1, json.dumps(sub).encode())
        self.events = 0  # load events received over the connection's life

    def on_upgraded(self) -> None:
        self.transport.write(self.auth)

    def on_text(self, buf, start: int, end: int, now: float) -> None:
        w = self.window
        if buf.find(b'"account.balance"', start, end) >= 0:
            i = buf.find(_STAMP, start, end)
            if i < 0:
                return
            i += len(_STAMP)
            sent = stamp_ms(bytes(buf[i : i + 24]))
            if sent is None:
                return
            self.events += 1
            if w.t0 <= now < w.t1:
                w.received += 1
                b = int((now - sent) * 10)
                w.hist[b if b >= 0 and b < BINS else (0 if b < 0 else BINS - 1)] += 1
        elif not self.ready.done():
            if buf.find(b'"authSuccess"', start, end) >= 0:
                self.transport.write(self.subscription)
            elif buf.find(b'"subscribed"', start, end) >= 0:
                self.ready.set_result(None)
            elif buf.find(b'"code"', start, end) >= 0:
                text = bytes(buf[start:end]).decode(errors="replace")
                self.ready.set_exception(ConnectionError(text[:200]))


async def _serve(pipe) -> None:
    feeds: list[Feed] = []

    async def open_feeds(port: int, specs: list) -> dict:  # [(token, account)]
        new = [Feed(port, token, account) for token, account in specs]
        return await open_into(feeds, port, new, OPEN_AT_ONCE)

    async def measure(t0: float, t1: float) -> tuple:  # in ms
        Feed.window = w = Window(t0, t1)
        await asyncio.sleep(max(0.0, w.t1 / 1000 - time.time()))
        Feed.window = Window()
        hist = {i: c for i, c in enumerate(w.hist) if c}
        return hist, w.received

    async def count() -> tuple:  # load events received so far, all connections
        closed = sum(1 for f in feeds if f.closed)
        return sum(f.events for f in feeds), closed

    commands = {"open": open_feeds, "measure": measure, "count": count}
    await answer_commands(pipe, {**commands, "close": partial(close_all, feeds)})


class Load(_Load):
    def __init__(self) -> None:
        super().__init__(_serve, WORKERS)
