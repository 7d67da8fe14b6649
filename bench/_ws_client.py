"""What the WebSocket load generators share (bench/ws_load.py, bench/account_load.py):
a minimal RFC 6455 client on asyncio that cuts frames from the byte stream without
copying or parsing them, opening many at once, and the worker processes driven over
pipes by the benchmark's process."""

import asyncio
import base64
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Awaitable, Callable
from functools import partial

from _common import LOCAL

OPEN_TIMEOUT_S = 60.0


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final client frame, masked with the all-zero key (payload unchanged)."""
    n = len(payload)
    size = bytes((0x80 | n,)) if n < 126 else bytes((0xFE,)) + n.to_bytes(2)
    return bytes((0x80 | opcode,)) + size + b"\0\0\0\0" + payload


class RawClient(asyncio.Protocol):
    """One connection: the upgrade (no extension offered), then each text frame is
    handed to `on_text(buf, start, end, now_ms)` as a slice of the receive buffer;
    pings are answered, a close frame ends it. `ready` is for the subclass to
    resolve (its subscription confirmed) or fail."""

    def __init__(self, port: int, path: str) -> None:
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {LOCAL}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.buf, self.transport = bytearray(), None
        self.upgraded = self.leaving = False
        self.ready = asyncio.get_running_loop().create_future()
        self.closed: int | None = None  # the server's close code

    def on_upgraded(self) -> None:
        """The first message(s) to send."""

    def on_text(self, buf: bytearray, start: int, end: int, now: float) -> None:
        """A text frame: buf[start:end]."""

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
            self.on_upgraded()
        pos, n = 0, len(buf)
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
                self.on_text(buf, start, end, now)
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


async def open_all(port: int, clients: list[RawClient], at_once: int) -> list:
    """Connect `clients` (at most `at_once` opening together) and wait for each to be
    ready: the client, or an error text."""
    loop, gate = asyncio.get_running_loop(), asyncio.Semaphore(at_once)

    async def one(client):
        async with gate:
            try:
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    await loop.create_connection(lambda: client, LOCAL, port)
                    await client.ready
                return client
            except (OSError, TimeoutError) as exc:
                if client.transport is not None:
                    client.transport.abort()
                return f"{type(exc).__name__}: {exc}"

    return await asyncio.gather(*(one(c) for c in clients))


async def open_into(clients: list, port: int, new: list[RawClient], at_once: int):
    """Open `new` (see `open_all`) and add those that got ready to `clients`: how many
    opened, and the first error texts."""
    done = await open_all(port, new, at_once)
    errors = [e for e in done if isinstance(e, str)]
    clients += [c for c in done if not isinstance(c, str)]
    return {"opened": len(done) - len(errors), "errors": errors[:3]}


async def close_all(clients: list[RawClient], keep=lambda client: False) -> str:
    """Close every client `keep` does not pick (and drop it from `clients`), then give
    the close frames a moment to leave."""
    for client in clients:
        if not keep(client):
            client.leave()
    clients[:] = [c for c in clients if keep(c)]
    await asyncio.sleep(0.2)
    return "closed"


async def answer_commands(pipe, commands: dict[str, Callable[..., Awaitable]]):
    """The benchmark's commands over `pipe`, `(name, *args)`, each answered with what
    `commands[name](*args)` returns; an unknown name (`stop`) or a closed pipe ends."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            name, *args = await loop.run_in_executor(None, pipe.recv)
        except EOFError:
            return
        command = commands.get(name)
        if command is None:
            return
        pipe.send(await command(*args))


def run_worker(serve, pipe) -> None:
    """A worker process's body: `serve(pipe)` on uvloop when installed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(pipe))
    else:
        uvloop.run(serve(pipe))


class Load:
    """`workers` load generator processes running `serve(pipe)` (a coroutine function
    of the module), driven over pipes."""

    def __init__(self, serve, workers: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        target = partial(run_worker, serve)
        self.workers = workers
        self.pipes, self.procs = [], []
        for _ in range(workers):
            mine, theirs = ctx.Pipe()
            self.procs.append(ctx.Process(target=target, args=(theirs,), daemon=True))
            self.procs[-1].start()
            self.pipes.append(mine)

    def send(self, commands: list) -> None:
        """One command per worker (fewer: to the first ones)."""
        for pipe, command in zip(self.pipes, commands, strict=False):
            pipe.send(command)

    def answers(self, count: int | None = None, timeout: float = 600.0) -> list:
        deadline, answers = time.monotonic() + timeout, []
        for pipe in self.pipes[: self.workers if count is None else count]:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise SystemExit("the load generator did not answer in time")
            answers.append(pipe.recv())
        return answers

    def ask(self, commands: list, timeout: float = 600.0) -> list:
        self.send(commands)
        return self.answers(len(commands), timeout)

    def stop(self) -> None:
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
            proc.join(5)
            proc.terminate()  # if it has not exited by now
            proc.join(5)
