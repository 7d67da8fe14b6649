"""The load generator of bench/account_streams.py: processes of a minimal RFC 6455
client speaking the Aries accounts protocol (auth, one `account` subscription), which
record, per event, the time from the envelope's `timestamp` (RFC 3339 with
milliseconds) to receipt, found by a byte search, no JSON parsing. Driven over a pipe
by `Load` in the benchmark's process."""

import asyncio
import base64
import calendar
import contextlib
import json
import math
import multiprocessing
import os
import signal
import time

WORKERS = 2
BINS = 100_000  # latency histogram: 0.1 ms bins up to 10 s
OPEN_AT_ONCE, OPEN_TIMEOUT_S = 50, 60.0
LOCAL = "127.0.0.1"
PATH = "/v1/accounts/ws"
_STAMP = b'"timestamp":"'


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final client frame, masked with the all-zero key (payload unchanged)."""
    n = len(payload)
    size = bytes((0x80 | n,)) if n < 126 else bytes((0xFE,)) + n.to_bytes(2)
    return bytes((0x80 | opcode,)) + size + b"\0\0\0\0" + payload


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


class Feed(asyncio.Protocol):
    """One client: handshake, auth with `token`, subscribe to `account`, then events."""

    window = Window()

    def __init__(self, port: int, token: str, account: str) -> None:
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET {PATH} HTTP/1.1\r\nHost: {LOCAL}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
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
        self.buf, self.transport = bytearray(), None
        self.upgraded = self.leaving = False
        self.ready = asyncio.get_running_loop().create_future()
        self.events = 0  # load events received over the connection's life
        self.closed: int | None = None

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
            self.transport.write(self.auth)
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
                self._text(buf, start, end, now, w)
            elif opcode == 9:  # ping
                self.transport.write(client_frame(10, bytes(buf[start:end])))
            elif opcode == 8:
                self.closed = int.from_bytes(buf[start : start + 2]) or 1005
                self.leave()
                break
        del buf[:pos]

    def _text(self, buf, start: int, end: int, now: float, w: Window) -> None:
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

    def leave(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.leaving = True
            self.transport.write(client_frame(8, (1000).to_bytes(2)))
            self.transport.close()


async def _open(port: int, specs: list) -> list:
    loop, gate = asyncio.get_running_loop(), asyncio.Semaphore(OPEN_AT_ONCE)

    async def one(token, account):
        async with gate:
            feed = Feed(port, token, account)
            try:
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    await loop.create_connection(lambda: feed, LOCAL, port)
                    await feed.ready
                return feed
            except (OSError, TimeoutError) as exc:
                if feed.transport is not None:
                    feed.transport.abort()
                return f"{type(exc).__name__}: {exc}"

    return await asyncio.gather(*(one(token, account) for token, account in specs))


async def _serve(pipe) -> None:
    loop, feeds = asyncio.get_running_loop(), []
    while True:
        try:
            command, *args = await loop.run_in_executor(None, pipe.recv)
        except EOFError:
            return
        if command == "open":  # port, [(token, account)]
            done = await _open(*args)
            feeds += [f for f in done if isinstance(f, Feed)]
            errors = [e for e in done if isinstance(e, str)]
            pipe.send({"opened": len(done) - len(errors), "errors": errors[:3]})
        elif command == "measure":  # t0, t1 in ms
            Feed.window = w = Window(*args)
            await asyncio.sleep(max(0.0, w.t1 / 1000 - time.time()))
            Feed.window = Window()
            hist = {i: c for i, c in enumerate(w.hist) if c}
            pipe.send((hist, w.received))
        elif command == "count":  # load events received so far, all connections
            closed = sum(1 for f in feeds if f.closed)
            pipe.send((sum(f.events for f in feeds), closed))
        elif command == "close":
            for feed in feeds:
                feed.leave()
            feeds = []
            await asyncio.sleep(0.2)
            pipe.send("closed")
        else:
            return


def worker(pipe) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(pipe))
    else:
        uvloop.run(_serve(pipe))


class Load:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(WORKERS):
            mine, theirs = ctx.Pipe()
            self.procs.append(ctx.Process(target=worker, args=(theirs,), daemon=True))
            self.procs[-1].start()
            self.pipes.append(mine)

    def ask(self, commands: list, timeout: float = 600.0) -> list:
        for pipe, command in zip(self.pipes, commands, strict=False):
            pipe.send(command)
        deadline, answers = time.monotonic() + timeout, []
        for pipe in self.pipes[: len(commands)]:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise SystemExit("the load generator did not answer in time")
            answers.append(pipe.recv())
        return answers

    def stop(self) -> None:
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
            proc.join(5)
            proc.terminate()
            proc.join(5)
