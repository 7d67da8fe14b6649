"""The load generator of bench/ws_fanout.py: processes of a minimal RFC 6455 client
that subscribe to one symbol each and record, per update, the time from the upstream's
`last_update` to receipt (found by a byte search, no JSON parsing) in a histogram.
Driven over a pipe by `Load` in the benchmark's process."""

import asyncio
import json
import math
import time
from collections import Counter

from _ws_client import Load as _Load
from _ws_client import RawClient, answer_commands, client_frame, close_all, open_into

WORKERS = 2  # load generator processes
BINS = 100_000  # latency histogram: 0.1 ms bins up to 10 s
UPDATE_MAX = 2_000  # bytes; a larger frame is a first message (history), never counted
OPEN_AT_ONCE = 100
GRACE_S = 1.5  # after the window, for its last updates to arrive
__all__ = ["BINS", "GRACE_S", "WORKERS", "Load"]


class Window:
    """What a worker's clients record over [t0, t1) ms: updates received then (and
    their latency), and updates sent upstream then that arrived by t1 + GRACE_S."""

    def __init__(self, t0: float = math.inf, t1: float = math.inf) -> None:
        self.t0, self.t1, self.t2 = t0, t1, t1 + GRACE_S * 1000
        self.hist = [0] * BINS
        self.received = self.timely = 0
        self.ref: Counter = Counter()


class Feed(RawClient):
    """One client: its subscription, then it records the updates of its symbol."""

    window = Window()  # the worker's current window, shared by its clients

    def __init__(self, port, key, codes, reference=False) -> None:
        super().__init__(port, "/live")
        self.code, self.reference = codes[0], reference
        item = {"type": "series", "bar_type": "minute", "bar_interval": 1}
        items = [{"code": code, **item} for code in codes]
        body = {"api_key": key, "subscriptions": items}
        self.subscription = client_frame(1, json.dumps(body).encode())

    def on_upgraded(self) -> None:
        self.transport.write(self.subscription)

    def on_text(self, buf, start: int, end: int, now: float) -> None:
        i = buf.find(b'"last_update":', start, end)
        if i < 0:
            return
        if end - start > UPDATE_MAX:
            if not self.ready.done():
                self.ready.set_result(None)
            return
        w = self.window
        i += 14 if buf[i + 14] != 32 else 15  # json.dumps puts a space
        sent = int(buf[i : buf.find(b",", i, end)])
        if self.reference:
            if w.t0 <= sent < w.t1:
                code = buf[start + 9 : buf.find(b'"', start + 9, end)]
                w.ref[code.decode()] += 1
            return
        if w.t0 <= now < w.t1:
            w.received += 1
            b = int((now - sent) * 10)
            w.hist[b if b < BINS else BINS - 1] += 1
        if w.t0 <= sent < w.t1 and now < w.t2:
            w.timely += 1


async def _serve(pipe) -> None:
    """The parent's commands: open, measure (answered after the window), close."""
    feeds: list[Feed] = []

    async def open_feeds(port: int, specs: list, reference: bool = False) -> dict:
        """[(key, [codes])]: feeds that got their first series message, or errors."""
        new = [Feed(port, key, codes, reference) for key, codes in specs]
        return await open_into(feeds, port, new, OPEN_AT_ONCE)

    async def measure(t0: float, t1: float) -> tuple:  # in ms
        Feed.window = w = Window(t0, t1)
        await asyncio.sleep(max(0.0, w.t2 / 1000 - time.time()))
        Feed.window = Window()
        clients = [f for f in feeds if not f.reference]
        hist = {i: c for i, c in enumerate(w.hist) if c}
        codes = Counter(f.code for f in clients)
        closed = Counter(f.closed for f in clients if f.closed)
        return w.ref, hist, codes, closed, w.received, w.timely

    async def close() -> str:
        return await close_all(feeds, keep=lambda feed: feed.reference)

    await answer_commands(
        pipe, {"open": open_feeds, "measure": measure, "close": close}
    )


class Load(_Load):
    """The load generator processes, driven over pipes."""

    def __init__(self) -> None:
        super().__init__(_serve, WORKERS)
