"""The load generator of bench/ws_fanout.py: processes of a minimal RFC 6455 client
that subscribe to one symbol each and record, per update, the time from the upstream's
`last_update` to receipt (found by a byte search, no JSON parsing) in a histogram.
Driven over a pipe by `Load` in the benchmark's process."""

import asyncio
import base64
import contextlib
import json
import math
import multiprocessing
import os
import signal
import time
from collections import Counter

WORKERS = 2  # load generator processes
BINS = 100_000  # latency histogram: 0.1 ms bins up to 10 s
UPDATE_MAX = 2_000  # bytes; a larger frame is a first message (history), never counted
OPEN_AT_ONCE, OPEN_TIMEOUT_S = 100, 60.0
GRACE_S = 1.5  # after the window, for its last updates to arrive
LOCAL = "127.0.0.1"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final client frame, masked with the all-zero key (payload unchanged)."""
    n = len(payload)
    size = bytes((0x80 | n,)) if n < 126 else bytes((0xFE,)) + n.to_bytes(2)
    return bytes((0x80 | opcode,)) + size + b"\0\0\0\0" + payload


class Window:
    """What a worker's clients record over [t0, t1) ms: updates received then (and
    their latency), and updates sent upstream then that arrived by t1 + GRACE_S."""

    def __init__(self, t0: float = math.inf, t1: float = math.inf) -> None:
        self.t0, self.t1, self.t2 = t0, t1, t1 + GRACE_S * 1000
        self.hist = [0] * BINS
        self.received = self.timely = 0
        self.ref: Counter = Counter()


class Feed(asyncio.Protocol):
    """One client: handshake (no extension offered), subscription, then frames."""

    window = Window()  # the worker's current window, shared by its clients

    def __init__(self, port, key, codes, reference=False) -> None:
        self.code, self.reference = codes[0], reference
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET /live HTTP/1.1\r\nHost: {LOCAL}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        item = {"type": "series", "bar_type": "minute", "bar_interval": 1}
        items = [{"code": code, **item} for code in codes]
        body = {"api_key": key, "subscriptions": items}
        self.subscription = client_frame(1, json.dumps(body).encode())
        self.buf, self.transport = bytearray(), None
        self.upgraded = self.leaving = False
        self.ready = asyncio.get_running_loop().create_future()
        self.closed: int | None = None  # the server's close code

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before data: {exc}"))
        if self.closed is None and not self.leaving:
            self.closed = 1006

    def data_received(self, data: bytes) -> None:
        now = time.time() * 1000.0
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                status = bytes(buf[: buf.find(b"\r\n")]).decode(errors="replace")
                self.ready.set_exception(ConnectionError(status))
                return self.transport.abort()
            del buf[: end + 4]
            self.upgraded = True
            self.transport.write(self.subscription)
        w, pos, n = self.window, 0, len(buf)
        while n - pos >= 2:
            size, start = buf[pos + 1] & 127, pos + 2
            if size == 126:
                if n - pos < 4:
                    break
                size, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, start = int.from_bytes(buf[pos + 2 : pos + 10]), pos + 10
            end = start + size
            if end > n:
                break
            opcode, pos = buf[pos] & 15, end
            if opcode == 1:
                i = buf.find(b'"last_update":', start, end)
                if i < 0:
                    continue
                if size > UPDATE_MAX:
                    if not self.ready.done():
                        self.ready.set_result(None)
                    continue
                i += 14 if buf[i + 14] != 32 else 15  # json.dumps puts a space
                sent = int(buf[i : buf.find(b",", i, end)])
                if self.reference:
                    if w.t0 <= sent < w.t1:
                        code = buf[start + 9 : buf.find(b'"', start + 9, end)]
                        w.ref[code.decode()] += 1
                    continue
                if w.t0 <= now < w.t1:
                    w.received += 1
                    b = int((now - sent) * 10)
                    w.hist[b if b < BINS else BINS - 1] += 1
                if w.t0 <= sent < w.t1 and now < w.t2:
                    w.timely += 1
            elif opcode == 9:  # ping
                self.transport.write(client_frame(10, bytes(buf[start:end])))
            elif opcode == 8:
                self.closed = int.from_bytes(buf[start : start + 2]) or 1005
                self.leave()
                break
        del buf[:pos]

    def leave(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.leaving = True
            self.transport.write(client_frame(8, (1000).to_bytes(2)))
            self.transport.close()


async def _open(port, specs, reference=False) -> list:
    """Feeds that got their first series message, or error texts."""
    loop, gate = asyncio.get_running_loop(), asyncio.Semaphore(OPEN_AT_ONCE)

    async def one(key, codes):
        async with gate:
            feed = Feed(port, key, codes, reference)
            try:
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    await loop.create_connection(lambda: feed, LOCAL, port)
                    await feed.ready
                return feed
            except (OSError, TimeoutError) as exc:
                if feed.transport is not None:
                    feed.transport.abort()
                return f"{type(exc).__name__}: {exc}"

    return await asyncio.gather(*(one(key, codes) for key, codes in specs))


async def _serve(pipe) -> None:
    """The parent's commands: open, measure (answered after the window), close."""
    loop, feeds = asyncio.get_running_loop(), []
    while True:
        try:
            command, *args = await loop.run_in_executor(None, pipe.recv)
        except EOFError:
            return
        if command == "open":  # port, [(key, [codes])], reference
            done = await _open(*args)
            feeds += [f for f in done if isinstance(f, Feed)]
            errors = [e for e in done if isinstance(e, str)]
            pipe.send({"opened": len(done) - len(errors), "errors": errors[:3]})
        elif command == "measure":  # t0, t1 in ms
            Feed.window = w = Window(*args)
            await asyncio.sleep(max(0.0, w.t2 / 1000 - time.time()))
            Feed.window = Window()
            clients = [f for f in feeds if not f.reference]
            hist = {i: c for i, c in enumerate(w.hist) if c}
            codes = Counter(f.code for f in clients)
            closed = Counter(f.closed for f in clients if f.closed)
            pipe.send((w.ref, hist, codes, closed, w.received, w.timely))
        elif command == "close":
            for feed in feeds:
                if not feed.reference:
                    feed.leave()
            feeds = [f for f in feeds if f.reference]
            await asyncio.sleep(0.2)
            pipe.send("closed")
        else:
            return


def worker(pipe) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(pipe))
    else:
        uvloop.run(_serve(pipe))


class Load:
    """The load generator processes, driven over pipes."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(WORKERS):
            mine, theirs = ctx.Pipe()
            self.procs.append(ctx.Process(target=worker, args=(theirs,), daemon=True))
            self.procs[-1].start()
            self.pipes.append(mine)

    def send(self, commands: list) -> None:
        """One command per worker (fewer: to the first ones)."""
        for pipe, command in zip(self.pipes, commands, strict=False):
            pipe.send(command)

    def answers(self, count: int = WORKERS, timeout: float = 600.0) -> list:
        deadline, answers = time.monotonic() + timeout, []
        for pipe in self.pipes[:count]:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise SystemExit("the load generator did not answer in time")
            answers.append(pipe.recv())
        return answers

    def ask(self, commands: list) -> list:
        self.send(commands)
        return self.answers(len(commands))

    def stop(self) -> None:
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
            proc.join(5)
            proc.terminate()  # if it has not exited by now
            proc.join(5)
