"""A minimal Redis client for the gateway's one hot-path call: one persistent connection
per event loop, commands pipelined on it, replies matched in order.

Measured on this project's machine, redis-py's asyncio client spent 0.15–0.2 ms of
Python per EVALSHA (pool checkout, command packing, its parser, retry and notification
hooks) on top of the loopback round trip, and its pool managed under 2,000 checks a second
with 1,000 in flight (bench/README.md). This client writes pre-encoded commands straight
to an asyncio transport and parses the few RESP2 reply types a script returns.

Everything else (pub/sub, reads off the hot path) stays on redis-py. Errors are redis-py's
exception classes, so callers handle both the same way: every failure is a RedisError.
"""

import asyncio
import collections

from redis import exceptions as rx
from redis.asyncio.connection import Connection, UnixDomainSocketConnection

_CRLF = b"\r\n"


class _Incomplete(Exception):
    pass


def _parse(buf: bytes, pos: int):
    """One reply from `buf` at `pos`: (value, next position). Raises _Incomplete."""
    end = buf.find(_CRLF, pos)
    if end < 0:
        raise _Incomplete
    kind = buf[pos]
    if kind == 58:  # ':' integer
        return int(buf[pos + 1 : end]), end + 2
    if kind == 36:  # '$' bulk string
        size = int(buf[pos + 1 : end])
        if size < 0:
            return None, end + 2
        start = end + 2
        if len(buf) < start + size + 2:
            raise _Incomplete
        return buf[start : start + size], start + size + 2
    if kind == 42:  # '*' array
        count = int(buf[pos + 1 : end])
        if count < 0:
            return None, end + 2
        pos = end + 2
        items = []
        for _ in range(count):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    if kind == 43:  # '+' simple string
        return buf[pos + 1 : end], end + 2
    if kind == 45:  # '-' error: returned, not raised, so later replies still parse
        message = buf[pos + 1 : end].decode("utf-8", "replace")
        cls = rx.NoScriptError if message.startswith("NOSCRIPT") else rx.ResponseError
        return cls(message), end + 2
    raise rx.ConnectionError(f"unexpected Redis reply byte {kind!r}")


def encode(*args) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if not isinstance(arg, bytes):
            arg = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiters: collections.deque[asyncio.Future] = collections.deque()
        self.buffer = b""
        self.lost = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        pos = 0
        size = len(buf)
        waiters = self.waiters
        try:
            while pos < size:
                value, pos = _parse(buf, pos)
                if not waiters:
                    raise rx.ConnectionError("Redis sent a reply nobody asked for")
                waiter = waiters.popleft()
                if not waiter.done():  # a timed-out or cancelled caller drops its reply
                    waiter.set_result(value)
        except _Incomplete:
            pass
        except rx.ConnectionError as exc:
            self.abort(exc)
            return
        except (ValueError, IndexError) as exc:
            # Not RESP: nothing after it can be trusted.
            self.abort(rx.ConnectionError(f"unreadable Redis reply ({exc})"))
            return
        self.buffer = buf[pos:] if pos < size else b""

    def eof_received(self) -> None:
        self.lost = True  # the server hung up: nothing more is sent on this connection

    def connection_lost(self, exc) -> None:
        self.lost = True
        self._fail(rx.ConnectionError(f"Redis connection lost ({exc or 'closed'})"))

    def abort(self, exc: Exception) -> None:
        self.lost = True
        self._fail(exc)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: Exception) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)


class RespConnection:
    """A connection per event loop, opened on first use and again after any failure.

    A command whose reply does not come within `timeout` fails with TimeoutError and
    drops the connection (later replies could no longer be matched); one that was
    written when the connection broke fails with ConnectionError: its outcome is
    unknown, so it is never retried here. A connection found closed before writing is
    replaced transparently."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
    ) -> None:
        self._address = (host, int(port), path)
        self._auth = None
        if password:
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            self._auth = encode(*auth)
        self._select = encode("SELECT", int(db)) if int(db or 0) else None
        self._timeout = timeout
        self._connect_timeout = connect_timeout or None
        # event loop -> its connection, and -> the task opening one
        self._protocols: dict[asyncio.AbstractEventLoop, _Protocol] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}

    @staticmethod
    def supports(client) -> bool:
        """Whether a redis-py client's connections are plain TCP or Unix sockets (TLS and
        anything else stay with redis-py)."""
        kind = client.connection_pool.connection_class
        return kind in (Connection, UnixDomainSocketConnection)

    @classmethod
    def like(cls, client) -> "RespConnection":
        """A connection to the same server, database and credentials as a redis-py
        asyncio client, with its timeouts."""
        kw = client.connection_pool.connection_kwargs
        return cls(
            host=kw.get("host", "127.0.0.1"),
            port=kw.get("port", 6379),
            path=kw.get("path"),
            db=kw.get("db", 0),
            username=kw.get("username"),
            password=kw.get("password"),
            timeout=kw.get("socket_timeout", 5.0),
            connect_timeout=kw.get("socket_connect_timeout", 5.0),
        )

    async def execute(self, command: bytes):
        """Send one encoded command and return its reply; an error reply is raised."""
        loop = asyncio.get_running_loop()
        protocol = self._protocols.get(loop)
        if protocol is None or protocol.lost:
            protocol = await self._connect(loop)
        waiter = loop.create_future()
        protocol.waiters.append(waiter)
        protocol.transport.write(command)
        if self._timeout:
            timer = loop.call_later(self._timeout, _expire, protocol, waiter)
            try:
                reply = await waiter
            finally:
                timer.cancel()
        else:
            reply = await waiter
        if isinstance(reply, rx.ResponseError):
            raise reply
        return reply

    async def _connect(self, loop) -> _Protocol:
        opening = self._opening.get(loop)
        if opening is None:
            for old in [lp for lp in self._protocols if lp.is_closed()]:
                del self._protocols[old]
            opening = self._opening[loop] = loop.create_task(self._open(loop))
            opening.add_done_callback(_retrieved)
        try:
            return await asyncio.shield(opening)
        finally:
            if opening.done() and self._opening.get(loop) is opening:
                del self._opening[loop]

    async def _open(self, loop) -> _Protocol:
        host, port, path = self._address
        try:
            async with asyncio.timeout(self._connect_timeout):
                if path:
                    _, protocol = await loop.create_unix_connection(_Protocol, path)
                else:
                    _, protocol = await loop.create_connection(_Protocol, host, port)
        except (OSError, TimeoutError) as exc:
            raise rx.ConnectionError(
                f"cannot connect to Redis ({type(exc).__name__}: {exc})"
            ) from None
        for command in (self._auth, self._select):
            if command is None:
                continue
            waiter = loop.create_future()
            protocol.waiters.append(waiter)
            protocol.transport.write(command)
            try:
                async with asyncio.timeout(self._timeout):
                    reply = await waiter
            except TimeoutError:
                protocol.abort(rx.TimeoutError("Redis did not answer in time"))
                raise rx.TimeoutError("Redis did not answer in time") from None
            except BaseException:
                protocol.abort(rx.ConnectionError("connection setup interrupted"))
                raise
            if isinstance(reply, rx.ResponseError):
                protocol.abort(rx.ConnectionError("connection setup refused"))
                if command is self._auth:
                    raise rx.AuthenticationError(str(reply))
                raise reply
        self._protocols[loop] = protocol
        return protocol

    def close(self) -> None:
        """Close the connection of the running event loop (others close with theirs)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        protocol = self._protocols.pop(loop, None)
        if protocol is not None and protocol.transport is not None:
            protocol.lost = True
            protocol.transport.close()


def _expire(protocol: _Protocol, waiter: asyncio.Future) -> None:
    if not waiter.done():
        protocol.abort(rx.TimeoutError("Redis did not answer in time"))


def _retrieved(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # whoever awaited it saw it; nobody else needs the warning
