"""What every gateway of a web process shares, started once and stopped once.

One aiohttp session for upstream calls, the Redis client and the limiter on it (the
in-process limiter without REDIS_URL), the cache of member records and the usage meter.
Member changes reach the gateways through one place: the runtime drops the member's
cached record, then tells every registered callback, always on its own event loop.
"""

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Coroutine

import aiohttp
from django.conf import settings

from marketdata.access import AccessCache
from marketdata.limits import MemoryLimiter, RedisLimiter, redis_client
from marketdata.metering import Meter
from marketdata.once import StartOnce
from members.services import cache_events

log = logging.getLogger(__name__)


class Runtime:
    """What every gateway of a web process shares: the upstream sessions, Redis, the
    limiter, the member cache, the meter and its background tasks.

    `startup` is idempotent (the first request may start it when the server sends no
    lifespan events); `shutdown` cancels and awaits every task started with `spawn`,
    then flushes the meter and closes the connections."""

    def __init__(self) -> None:
        self.started = False
        self._once = StartOnce(lambda: self.started)
        self._tasks: set[asyncio.Task] = set()
        self._callbacks: list[Callable[[int], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.session: aiohttp.ClientSession  # REST calls
        self.streams_session: aiohttp.ClientSession  # upstream WebSockets
        self.redis = None
        self.limiter: RedisLimiter | MemoryLimiter
        self.access: AccessCache
        self.meter: Meter

    # --- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        await self._once.run(self._start)

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        # The default timeouts are the market REST gateway's: a call that needs
        # others passes its own.
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=settings.MARKET_TIMEOUT,
                connect=settings.UPSTREAM_CONNECT_TIMEOUT,
            ),
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
            auto_decompress=False,
        )
        # Upstream market data WebSockets hold their connection for hours: one each,
        # never queued behind the REST pool's limit, never counted in it.
        self.streams_session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, connect=settings.UPSTREAM_CONNECT_TIMEOUT
            ),
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        )
        self.redis = None
        if settings.REDIS_URL:
            self.redis = redis_client(settings.REDIS_URL)
            self.limiter = RedisLimiter(self.redis, settings.REDIS_KEY_PREFIX)
            self.spawn(self._listen_changes())
        else:
            self.limiter = MemoryLimiter()
            cache_events.listen(self.limiter.bump)
        # Registered after the cache's own listener, so a callback always finds
        # the member's record already dropped.
        self.access = AccessCache(self.limiter.generation)
        cache_events.listen(self._member_changed)
        self.meter = Meter()
        self.spawn(self.meter.run(settings.USAGE_FLUSH_INTERVAL))
        self.started = True

    async def shutdown(self) -> None:
        if not self.started:
            return
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await self.meter.flush()
        await self.session.close()
        await self.streams_session.close()
        cache_events.unlisten(self._member_changed)
        self.access.close()
        if self.redis is not None:
            self.limiter.close()
            await self.redis.aclose()
        else:
            cache_events.unlisten(self.limiter.bump)
        self._once.reset()
        self._loop = self._loop_thread = None
        self.started = False

    def spawn(self, coro: Coroutine) -> asyncio.Task:
        """Run `coro` in the background until it ends or the runtime shuts down."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- member changes -----------------------------------------------------------------

    async def stale_members(self, held: dict[int, list[str]]) -> list[int]:
        """Of the members whose open connections hold records of these generations,
        the ones changed since (one Redis round trip), their cached records dropped:
        the streaming gateways' safety net for a missed change message."""
        members = list(held)
        if not members:
            return []
        stale = []
        generations = await self.limiter.generations(members)
        for member_id, generation in zip(members, generations, strict=True):
            if any(g != generation for g in held[member_id]):
                self.access.invalidate(member_id)
                stale.append(member_id)
        return stale

    def on_member_change(self, callback: Callable[[int], None]) -> None:
        """Call `callback(member_id)` on this runtime's event loop for every member
        change this process learns of, after the member's cached record is dropped.
        A change may be reported more than once (in-process, then over Redis)."""
        self._callbacks.append(callback)

    def off_member_change(self, callback: Callable[[int], None]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def _member_changed(self, member_id: int) -> None:
        """The cache_events listener: called in whichever thread made the change
        (Django's sync code runs in worker threads)."""
        if not self._callbacks:
            return
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._notify(member_id)
            return
        try:
            loop.call_soon_threadsafe(self._notify, member_id)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass

    def _notify(self, member_id: int) -> None:
        for callback in list(self._callbacks):
            try:
                callback(member_id)
            except Exception:
                log.exception(
                    "member change callback failed", extra={"member_id": member_id}
                )

    async def _listen_changes(self) -> None:
        """Drop cached members changed in other processes as soon as they say so (the
        generation check is what guarantees the next request; this is the fast path)."""
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(cache_events.channel())
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        member_id = json.loads(message["data"])["member_id"]
                        self.access.invalidate(member_id)
                        self._notify(member_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("member change listener lost Redis; reconnecting")
                await asyncio.sleep(1)
