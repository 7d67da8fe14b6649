"""What one client has yet to receive: a bounded buffer, drained by its own writer task,
so a slow client only ever delays itself.

Below SOFT pending frames, every frame is delivered in order. Past SOFT the client is
behind: each new data frame replaces the pending frame of the same series or quote
(conflation; the client gets the latest bar per series instead of every one in
between), frames without such a key (status messages, first messages with history,
errors, pongs) are never dropped. A client still over HARD pending frames is closed
with its own close code (closes.SLOW_CLIENT).

Under uvicorn's WebSocket protocol (the server orgportal runs), a data frame that can go
out at once is written as ready-made WebSocket frame bytes straight to the connection's
transport: the fan-out frames a stream's update once for all its subscribers instead of
once per subscriber in the server's send path (measured: that send path was three
quarters of the gateway's time at 50,000 deliveries/s). Only when the transport accepts
data, the close has not begun and nothing is queued; everything else (and every frame
under another server) goes through the ASGI `send`.
"""

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from marketdata.live import closes
from marketdata.live.frames import json_object
from orgportal.metrics import WS_CONFLATED, WS_SLOW_CLOSES

SOFT = 256
HARD = 2_048
# Conflation bounds the buffer by the client's series, so a client that stopped reading
# would stay behind for ever: one behind for this long is closed as too slow.
MAX_BEHIND_S = 10.0

# A data frame's conflation key is worked out only once the client is behind.
UNKEYED = None


def conflation_key(frame: str) -> object:
    """The series (code, bar_type) or the quote codes a data frame updates; None for
    frames that must never be dropped."""
    if not frame.startswith("{"):
        return None
    message = json_object(frame)
    if message is None:
        return None
    if "series" in message and "code" in message:
        if len(message["series"]) != 1:  # history: never dropped
            return None
        return ("series", message["code"], message.get("bar_type"))
    if "data" in message and "total_items" in message:
        rows = message["data"]
        if isinstance(rows, list):
            return ("quote",) + tuple(
                row.get("code") for row in rows if isinstance(row, dict)
            )
    return None


_KEEP = object()  # the key of frames that are never conflated away


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked (server to client) WebSocket text frame. Valid with
    permessage-deflate too: a frame without RSV1 is simply not compressed."""
    size = len(payload)
    if size < 126:
        return b"\x81" + bytes((size,)) + payload
    if size < 65_536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


def _direct(send):
    """uvicorn's WebSocket protocol behind an ASGI `send`, if that is what it is."""
    protocol = getattr(send, "__self__", None)
    if type(protocol).__name__ != "WebSocketsSansIOProtocol":
        return None
    if not all(
        hasattr(protocol, name)
        for name in ("transport", "writable", "close_sent", "disconnected")
    ):
        return None
    return protocol


class Outbox:
    """Frames go out at once while the client keeps up: the server's send is driven
    right here, without a task switch, and completes without suspending as long as
    the connection's transport accepts data. Once a send has to wait (the client's
    buffers are full), it is handed to the writer task with everything after it."""

    __slots__ = (
        "_queue",
        "_keyed",
        "_wake",
        "_send",
        "_stuck",
        "closed",
        "conflated",
        "_seq",
        "_behind_since",
        "_direct",
    )

    def __init__(self, send: Callable[[dict], Awaitable[None]]) -> None:
        self._queue: deque[tuple[object, str]] = deque()
        self._keyed: OrderedDict | None = None  # while behind: key -> frame
        self._wake = asyncio.Event()
        self._send = send
        self._stuck = None  # (a send that had to wait, what it waits for)
        self.closed: tuple[int, str] | None = None  # the close to send, once decided
        self.conflated = 0
        self._seq = 0
        self._behind_since = 0.0
        self._direct = _direct(send)

    def __len__(self) -> int:
        pending = len(self._queue) if self._keyed is None else len(self._keyed)
        return pending + (self._stuck is not None)

    def push(
        self,
        frame: str,
        key: object = UNKEYED,
        *,
        keep: bool = False,
        wire: bytes | None = None,
    ) -> bool:
        """Send or queue a frame; False once the client is past the hard bound (it
        is then closed). `keep` marks frames never conflated away (status, history,
        errors); `wire` is the frame already encoded by text_frame (shared by every
        subscriber of a stream)."""
        if self.closed is not None:
            return False
        if self._keyed is None:
            if self._stuck is None and not self._queue:
                protocol = self._direct
                if (
                    protocol is not None
                    and protocol.writable.is_set()
                    and not protocol.close_sent
                    and not protocol.disconnected
                ):
                    protocol.transport.write(wire or text_frame(frame.encode()))
                    return True
                self._send_now(frame)
                return True
            self._queue.append((_KEEP if keep else key, frame))
            if len(self._queue) > SOFT:
                self._behind()
        else:
            if keep:
                key = _KEEP
            elif key is UNKEYED:
                key = conflation_key(frame)
            if key is None or key is _KEEP:
                self._seq += 1
                key = (_KEEP, self._seq)
            elif key in self._keyed:
                self.conflated += 1
                WS_CONFLATED.inc()
            self._keyed[key] = frame
            if (
                len(self._keyed) > HARD
                or time.monotonic() - self._behind_since > MAX_BEHIND_S
            ):
                WS_SLOW_CLOSES.inc()
                self.close(*closes.slow_client(len(self._keyed)), now=True)
                return False
        self._wake.set()
        return True

    def _send_now(self, frame: str) -> None:
        """Drive the server's send coroutine: done at once (the usual case), or
        suspended waiting for the transport, then finished by the writer."""
        coro = self._send({"type": "websocket.send", "text": frame})
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except Exception:  # the client is gone; the reader will see it
            self.closed = (closes.NORMAL, "")
            self._wake.set()
            return
        self._stuck = (coro, waiting)
        self._wake.set()

    async def _finish_stuck(self) -> None:
        """Run a suspended send to its end, as a task would: wait for what it waits
        for, then resume it."""
        coro, waiting = self._stuck
        try:
            while True:
                try:
                    if waiting is None:  # a bare yield: one loop turn
                        await asyncio.sleep(0)
                    else:
                        # What a task does with a future it is handed: take over
                        # the wait (the flag says a task has not yet).
                        waiting._asyncio_future_blocking = False
                        await waiting
                except BaseException as exc:  # noqa: BLE001 - handed to the send
                    waiting = coro.throw(exc)
                else:
                    waiting = coro.send(None)
        except StopIteration:
            pass
        finally:
            self._stuck = None

    def _behind(self) -> None:
        """Switch to conflation: pending frames keyed by what they update."""
        keyed: OrderedDict = OrderedDict()
        for key, frame in self._queue:
            if key is UNKEYED:
                key = conflation_key(frame)
            if key is None or key is _KEEP:
                self._seq += 1
                key = (_KEEP, self._seq)
            elif key in keyed:
                self.conflated += 1
                WS_CONFLATED.inc()
            keyed[key] = frame
        self._queue.clear()
        self._keyed = keyed
        self._behind_since = time.monotonic()

    def close(
        self, code: int, reason: str, *, message: str | None = None, now: bool = False
    ) -> None:
        """Close after what is pending, or `now` (pending frames dropped); `message`
        (a status or error frame) goes out last before the close."""
        if self.closed is not None:
            return
        if now:
            self._queue.clear()
            self._keyed = None
        if message is not None:
            if self._stuck is None and not self._queue:
                self._queue.append((_KEEP, message))  # sent by the writer, in order
            else:
                self.push(message, keep=True)
        self.closed = (code, reason)
        self._wake.set()

    async def run(self) -> None:
        """The writer: sends what could not go out at once, until closed; returns
        after sending the close frame."""
        send = self._send
        while True:
            if self._stuck is not None:
                await self._finish_stuck()
                continue
            if self._keyed is not None:
                if not self._keyed:
                    self._keyed = None  # caught up
                else:
                    _, frame = self._keyed.popitem(last=False)
                    await send({"type": "websocket.send", "text": frame})
                    continue
            if self._queue:
                _, frame = self._queue.popleft()
                await send({"type": "websocket.send", "text": frame})
                continue
            if self.closed is not None:
                break
            self._wake.clear()
            await self._wake.wait()
        code, reason = self.closed
        await send({"type": "websocket.close", "code": code, "reason": reason})
