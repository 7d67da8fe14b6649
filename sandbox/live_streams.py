"""What the simulated market data WebSockets send: connections' output, the shared
streams and their ticker, and initial history (`sandbox.live` holds the protocol).

A stream is one symbol and type with its bar options (`SeriesSpec.key`), or one group of
up to 10 quote codes. It exists while some connection subscribes to it. One scheduler
(`sandbox.live_ticker`) ticks every stream at `LiveConfig.updates_per_second`: each
tick builds the stream's
update once, as a complete WebSocket frame, and writes those same bytes to every
subscriber; the frames of one tick that go to the same connection leave in one write.
Each stream ticks at its own phase of the period, fixed by its key (`LiveConfig.phases`
"spread", as independent instruments update), or all at the same instant ("aligned").

Prices come from `sandbox.synth`, so they equal the REST API's at the same second. Synth
prices only move once a second; between seconds an update moves close and volume (and
high and low with them) in a straight line towards the next second's bar, rounded to the
symbol's tick, so sub-second updates look live. `last_update` is the wall-clock moment
the update is built, in ms.
"""

import asyncio
import dataclasses
import hashlib
import json
import logging
import random
import struct
import time
from typing import Any

from aiohttp import web

from sandbox.state.store import SandboxState
from sandbox.synth.bars import Bar, bar_label
from sandbox.synth.quotes import quote
from sandbox.synth.series import Series, series
from sandbox.synth.symbols import Symbol

__all__ = [
    "Conn",
    "History",
    "Output",
    "QuoteStream",
    "SeriesSpec",
    "SeriesStream",
    "dumps",
    "text_frame",
]

logger = logging.getLogger(__name__)

# Bytes a connection may have waiting in its transport; data frames past it are dropped.
SEND_BUFFER_LIMIT = 2 * 1024 * 1024
# Longest the background loops sleep before reading the settings again.
IDLE_SECONDS = 0.25
# Initial histories longer than this are computed off the event loop.
HEAVY_BARS = 2_000
# A tick stream shows sub-second trades while the symbol traded this recently.
TICK_LIVE_SECONDS = 60


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def wall_ms() -> int:
    return int(time.time() * 1000)


def text_frame(payload: bytes) -> bytes:
    """A complete server-to-client WebSocket text frame carrying `payload` (RFC 6455:
    final, opcode 1, unmasked; the sandbox negotiates no extension)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65_536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def garbled(payload: bytes) -> bytes:
    """The injected garbage frame for `payload`: its first half, which is never JSON."""
    return text_frame(payload[: len(payload) // 2])


@dataclasses.dataclass(slots=True, eq=False)
class Conn:
    """One open WebSocket of `/live` or `/newsfeed`.

    Frames are written straight to the transport, already framed, so one update is
    encoded once for all its subscribers. The transport's buffer is the connection's
    send queue: writing never waits, so a slow reader never holds up the ticker or other
    connections, and past SEND_BUFFER_LIMIT queued bytes frames are dropped (counted in
    `dropped`). aiohttp writes only protocol pongs and the close frame, between whole
    frames.
    """

    id: int
    path: str
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    opened_at: str
    access: Any = None  # who authenticated (`sandbox.live.Access`), or None
    # subscribed streams by key
    streams: dict[tuple, Any] = dataclasses.field(default_factory=dict)
    # the accepted subscription items
    items: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    news_mark: float = 0.0  # newest published_at sent on /newsfeed
    last_heartbeat: float = 0.0  # monotonic
    sent: int = 0
    dropped: int = 0
    closing: bool = False  # no more frames: closing or closed
    gone: bool = False  # the handler has finished

    def write(self, data: bytes, frames: int = 1) -> bool:
        """Queue complete frames; False when they were dropped."""
        transport = self.transport
        if self.closing or transport is None or transport.is_closing():
            return False
        if self.ws.closed:
            return False
        if transport.get_write_buffer_size() > SEND_BUFFER_LIMIT:
            self.dropped += frames
            return False
        transport.write(data)
        self.sent += frames
        return True

    def send(self, payload: bytes) -> bool:
        return self.write(text_frame(payload))


class Output:
    """Sending through the injected faults: nothing at all while stalled, and a share
    (`garbage_rate`) of data frames replaced by garbage."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.rng = random.Random(state.seed)

    def stalled(self) -> bool:
        return time.monotonic() < self.state.live.stall_until

    def control(self, conn: Conn, payload: bytes) -> bool:
        """Status messages, errors, heartbeats, pongs."""
        return False if self.stalled() else conn.send(payload)

    def data(self, conn: Conn, payload: bytes) -> bool:
        if self.stalled():
            return False
        rate = self.state.live.garbage_rate
        if rate and self.rng.random() < rate:
            return conn.write(garbled(payload))
        return conn.send(payload)


# --- series and quote streams -----------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SeriesSpec:
    """A series subscription's stream: what identifies it and computes its bars."""

    symbol: Symbol
    bar_type: str
    interval: int
    extended: bool
    dadj: bool
    settlement: bool

    @property
    def key(self) -> tuple:
        return (
            "series",
            self.symbol.code,
            self.bar_type,
            self.interval,
            self.extended,
            self.dadj,
            self.settlement,
        )

    def series(self, count: int, now: int) -> Series:
        """Equal to REST `/v3/symbols/{s}/series` with the same options at `now`."""
        return series(
            self.symbol,
            bar_type=self.bar_type,
            interval=self.interval,
            count=count,
            now=now,
            extended=self.extended,
            dadj=self.dadj,
            settlement=self.settlement,
        )


def _rows(bars: tuple[Bar, ...]) -> str:
    return ",".join(
        f'{{"time":{t!r},"open":{o!r},"high":{h!r},"low":{lo!r},'
        f'"close":{c!r},"volume":{v!r}}}'
        for t, o, h, lo, c, v in bars
    )


def _bar_end(value: float | None) -> str:
    return "null" if value is None else repr(float(value))


class Stream:
    """What the scheduler ticks: subscribers and when the next update is due."""

    __slots__ = ("broken", "conns", "key", "next_at", "phase")

    def __init__(self, key: tuple) -> None:
        self.key = key
        self.conns: dict[Conn, None] = {}  # insertion-ordered set
        self.next_at = 0.0  # loop time
        self.broken = False
        # Where in each period the stream ticks, as a share of it (phases "spread").
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        self.phase = int.from_bytes(digest) / 2**64

    def payload(self, now: float, ms: int) -> bytes | None:
        raise NotImplementedError


class SeriesStream(Stream):
    """Single-bar updates of one series: the bar in progress at `now`."""

    __slots__ = (
        "bar",
        "bar_end",
        "code",
        "label",
        "quantum",
        "second",
        "spec",
        "steps",
        "target",
        "tick",
        "whole_volume",
    )

    def __init__(self, spec: SeriesSpec) -> None:
        super().__init__(spec.key)
        symbol = spec.symbol
        self.spec = spec
        self.code = json.dumps(symbol.code)
        self.quantum = 10**symbol.decimals
        self.steps = max(1, round(symbol.tick * self.quantum))
        self.whole_volume = symbol.type != "crypto"
        self.tick = spec.bar_type == "tick"
        self.second = -1
        self.label = bar_label(spec.bar_type, spec.interval)
        self.bar: Bar | None = None
        self.target: Bar | None = None  # the same bar one second later
        self.bar_end: float | None = None

    def _rebase(self, second: int) -> None:
        current = self.spec.series(1, second)
        following = self.spec.series(1, second + 1)
        self.second = second
        self.label = current.bar_type
        self.bar_end = current.bar_end
        self.bar = current.bars[-1] if current.bars else None
        after = following.bars[-1] if following.bars else None
        if self.bar is None or after is None:
            self.target = None
        elif self.tick:
            recent = self.bar[0] >= second - TICK_LIVE_SECONDS
            self.target = after if recent else None
        else:
            self.target = after if after[0] == self.bar[0] else None

    def _round(self, price: float) -> float:
        steps = self.steps
        return round(price * self.quantum / steps) * steps / self.quantum

    def payload(self, now: float, ms: int) -> bytes | None:
        second = int(now)
        if second != self.second:
            self._rebase(second)
        bar = self.bar
        if bar is None:
            return None
        start, open_, high, low, close, volume = bar
        bar_end = self.bar_end
        target = self.target
        if target is not None:
            part = now - second
            close = self._round(close + (target[4] - close) * part)
            if self.tick:
                start = bar_end = round(now, 3)
                open_ = high = low = close
            else:
                volume += (target[5] - volume) * part
                volume = float(round(volume)) if self.whole_volume else round(volume, 4)
                high = max(self._round(high + (target[2] - high) * part), close)
                low = min(self._round(low + (target[3] - low) * part), close)
        return (
            f'{{"code":{self.code},"bar_end":{_bar_end(bar_end)},"last_update":{ms},'
            f'"bar_type":"{self.label}","series":[{{"time":{start!r},'
            f'"open":{open_!r},"high":{high!r},"low":{low!r},"close":{close!r},'
            f'"volume":{volume!r}}}]}}'
        ).encode()


class QuoteStream(Stream):
    """Quote messages for one group of up to 10 codes (a connection's quote codes,
    sorted, in tens): `{"last_update", "total_items", "data": [quote rows]}`."""

    __slots__ = ("data", "second", "symbols")

    def __init__(self, symbols: tuple[Symbol, ...]) -> None:
        super().__init__(("quote", tuple(symbol.code for symbol in symbols)))
        self.symbols = symbols
        self.second = -1
        self.data = ""

    def payload(self, now: float, ms: int) -> bytes | None:
        second = int(now)
        if second != self.second:
            rows = [quote(symbol, second) for symbol in self.symbols]
            self.data = json.dumps(rows, separators=(",", ":"))
            self.second = second
        total = len(self.symbols)
        return (
            f'{{"last_update":{ms},"total_items":{total},"data":{self.data}}}'
        ).encode()


class History:
    """The first message of a series subscription: its `count` most recent bars.
    Identical ones within one second (pooled connections subscribing together) share
    the work."""

    def __init__(self) -> None:
        self.second = -1
        self.bodies: dict[tuple, tuple[bytes, bytes]] = {}

    async def payload(self, spec: SeriesSpec, count: int, now: float) -> bytes:
        second = int(now)
        if second != self.second:
            self.second, self.bodies = second, {}
        key = (spec.key, count)
        body = self.bodies.get(key)
        if body is None:
            if count > HEAVY_BARS:
                loop = asyncio.get_running_loop()
                body = await loop.run_in_executor(
                    None, _history_body, spec, count, second
                )
            else:
                body = _history_body(spec, count, second)
            if second == self.second:
                self.bodies[key] = body
        head, tail = body
        return head + str(wall_ms()).encode() + tail


def _history_body(spec: SeriesSpec, count: int, second: int) -> tuple[bytes, bytes]:
    """The message without its `last_update` value, which is taken when it is sent."""
    result = spec.series(count, second)
    head = (
        f'{{"code":{json.dumps(spec.symbol.code)},'
        f'"bar_end":{_bar_end(result.bar_end)},"last_update":'
    )
    tail = f',"bar_type":"{result.bar_type}","series":[{_rows(result.bars)}]}}'
    return head.encode(), tail.encode()
