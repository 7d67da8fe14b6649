"""The ticker of the simulated market data WebSockets: one task that ticks every
stream (`sandbox.live_streams`) at `LiveConfig.updates_per_second`, each at its phase of
the period (`LiveConfig.phases` "spread", as independent instruments update) or all at
the same instant ("aligned"), and writes each connection's frames of a tick at once."""

import asyncio
import logging
import math

from orgportal import clock
from sandbox.live_streams import (
    IDLE_SECONDS,
    Conn,
    Output,
    Stream,
    garbled,
    text_frame,
    wall_ms,
)
from sandbox.state.store import SandboxState

__all__ = ["Scheduler"]

logger = logging.getLogger(__name__)

# A stream behind its schedule sends the updates it missed together, at most this many
# (one write per connection, so an overloaded sandbox batches rather than falls behind);
# further behind than MAX_LAG_SECONDS it skips the rest.
MAX_BURST = 10
MAX_LAG_SECONDS = 0.05


class Scheduler:
    """Ticks every stream at the configured rate, all on one task, each at its phase
    (phases "aligned": all at once, one wake-up for them all); the task ends when the
    last stream goes and starts again with the next."""

    def __init__(self, state: SandboxState, output: Output) -> None:
        self.state = state
        self.output = output
        self.streams: dict[tuple, Stream] = {}
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timing: tuple[float, str] = (0.0, "")  # (period, phases) in force

    def attach(self, conn: Conn, stream: Stream) -> Stream:
        """Subscribe `conn` to `stream`, or to the running stream with its key."""
        running = self.streams.get(stream.key)
        if running is None:
            running = self.streams[stream.key] = stream
            loop = asyncio.get_running_loop()
            period = 1.0 / self.state.live.updates_per_second
            running.next_at = self._next_tick(running, loop.time(), period)
            if self._task is None or self._task.done():
                self._task = loop.create_task(self._run())
            else:
                self._wake()
        running.conns[conn] = None
        return running

    def detach(self, conn: Conn, key: tuple) -> None:
        stream = self.streams.get(key)
        if stream is None:
            return
        stream.conns.pop(conn, None)
        if not stream.conns:
            del self.streams[key]

    def stop(self) -> None:
        self.streams.clear()
        if self._task is not None:
            self._task.cancel()

    def _next_tick(self, stream: Stream, now: float, period: float) -> float:
        """The stream's first tick after `now`, at its phase of the period."""
        offset = stream.phase * period if self.state.live.phases == "spread" else 0.0
        return (math.floor((now - offset) / period) + 1) * period + offset

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _sleep(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        handle = loop.call_later(delay, _resolve, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiter = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.streams:
            config = self.state.live
            period = 1.0 / config.updates_per_second
            now = loop.time()
            if (period, config.phases) != self._timing:
                # A new rate or phasing applies at once.
                for stream in self.streams.values():
                    stream.next_at = self._next_tick(stream, now, period)
                self._timing = (period, config.phases)
            early = min(0.0005, period / 4)
            due = []
            for stream in self.streams.values():
                if stream.next_at <= now + early:
                    count = min(MAX_BURST, 1 + int((now - stream.next_at) / period))
                    due.append((stream, max(1, count)))
            if due:
                if not self.output.stalled():
                    self._tick(due, period, config.garbage_rate)
                for stream, count in due:
                    stream.next_at += count * period
                    if stream.next_at < now - MAX_LAG_SECONDS:
                        stream.next_at = self._next_tick(stream, now, period)
            if not self.streams:
                break
            soonest = min(stream.next_at for stream in self.streams.values())
            delay = soonest - loop.time()
            if delay > 0:
                await self._sleep(min(delay, IDLE_SECONDS))
            else:
                await asyncio.sleep(0)

    def _tick(
        self, due: list[tuple[Stream, int]], period: float, garbage_rate: float
    ) -> None:
        """Build `count` updates of each due stream (the late ones at the moments they
        were due) and write each connection's frames at once."""
        now = clock.now().timestamp()
        ms = wall_ms()
        rng = self.output.rng
        outbox: dict[Conn, list[bytes]] = {}
        for stream, count in due:
            if stream.broken or not stream.conns:
                continue
            for late in range(count - 1, -1, -1):
                try:
                    payload = stream.payload(now - late * period, ms)
                except Exception:
                    # Keep the others flowing; say it once.
                    stream.broken = True
                    logger.exception("live stream %s failed", stream.key)
                    break
                if payload is None:
                    break
                frame = text_frame(payload)
                for conn in stream.conns:
                    data = frame
                    if garbage_rate and rng.random() < garbage_rate:
                        data = garbled(payload)
                    box = outbox.get(conn)
                    if box is None:
                        outbox[conn] = [data]
                    else:
                        box.append(data)
        for conn, frames in outbox.items():
            if len(frames) == 1:
                conn.write(frames[0])
            else:
                conn.write(b"".join(frames), len(frames))


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
