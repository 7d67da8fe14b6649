"""What the gateways share: one start for all, member changes delivered on the event
loop whatever thread made them, and background tasks stopped at shutdown."""

import asyncio
import hashlib
import logging
import threading

import pytest
import redis

from marketdata.runtime import Runtime
from members.services import cache_events
from tests.marketdata.conftest import reachable_redis_url

REDIS_URL = reachable_redis_url()


@pytest.fixture
async def runtime(settings):
    settings.REDIS_URL = ""  # in-process changes only
    runtime = Runtime()
    await runtime.startup()
    yield runtime
    await runtime.shutdown()


async def changed_here_and_in_a_thread(here: int, in_a_thread: int) -> None:
    """Member changes announced from the event loop's thread and from another, given
    the time to arrive."""
    cache_events.member_changed(here)
    await asyncio.to_thread(cache_events.member_changed, in_a_thread)
    await asyncio.sleep(0.05)


class Calls:
    """A member change callback that records where it ran."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, asyncio.AbstractEventLoop | None]] = []
        self.arrived = asyncio.Event()

    def __call__(self, member_id: int) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self.seen.append((member_id, threading.get_ident(), loop))
        self.arrived.set()


async def test_startup_is_shared_and_happens_once(settings):
    settings.REDIS_URL = ""
    runtime = Runtime()
    await asyncio.gather(runtime.startup(), runtime.startup())
    session = runtime.session
    await runtime.startup()
    try:
        assert runtime.started and runtime.session is session
    finally:
        await runtime.shutdown()
    assert not runtime.started and session.closed


async def test_a_change_made_in_another_thread_is_told_on_the_loop(runtime):
    # given
    calls = Calls()
    runtime.on_member_change(calls)
    # when: Django's sync code changes a member in a worker thread
    await asyncio.to_thread(cache_events.member_changed, 42)
    await asyncio.wait_for(calls.arrived.wait(), 2)
    # then
    assert calls.seen == [
        (42, threading.get_ident(), asyncio.get_running_loop()),
    ]


async def test_a_change_made_on_the_loop_is_told_at_once(runtime):
    calls = Calls()
    runtime.on_member_change(calls)
    cache_events.member_changed(7)
    assert [member_id for member_id, _, _ in calls.seen] == [7]


async def test_a_failing_callback_is_logged_and_the_others_still_run(runtime, caplog):
    # given: a callback that raises, registered before two that do not
    def broken(member_id: int) -> None:
        raise ValueError("broken")

    first, last = Calls(), Calls()
    runtime.on_member_change(first)
    runtime.on_member_change(broken)
    runtime.on_member_change(last)
    # when
    with caplog.at_level(logging.ERROR, logger="marketdata.runtime"):
        await asyncio.to_thread(cache_events.member_changed, 5)
        await asyncio.wait_for(last.arrived.wait(), 2)
        cache_events.member_changed(6)
    # then
    assert [m for m, _, _ in first.seen] == [m for m, _, _ in last.seen] == [5, 6]
    assert [r.message for r in caplog.records].count(
        "member change callback failed"
    ) == 2


async def test_a_removed_callback_is_not_told(runtime):
    calls = Calls()
    runtime.on_member_change(calls)
    runtime.off_member_change(calls)
    await changed_here_and_in_a_thread(3, 4)
    assert calls.seen == []


async def test_after_shutdown_changes_are_not_told(settings):
    settings.REDIS_URL = ""
    runtime = Runtime()
    await runtime.startup()
    calls = Calls()
    runtime.on_member_change(calls)
    await runtime.shutdown()
    await changed_here_and_in_a_thread(9, 9)
    assert calls.seen == []


async def test_spawned_tasks_are_cancelled_and_awaited_at_shutdown(settings):
    settings.REDIS_URL = ""
    runtime = Runtime()
    await runtime.startup()
    cleaned = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # cleanup that itself awaits
            cleaned.append(True)

    task = runtime.spawn(forever())
    done = runtime.spawn(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    assert done.done() and not task.done()
    await asyncio.wait_for(runtime.shutdown(), 2)
    assert task.cancelled() and cleaned == [True]


@pytest.fixture
def key_hash(member_key) -> str:
    """A member's gateway key, hashed as the cache knows it."""
    return hashlib.sha256(member_key("m", "pro").encode()).hexdigest()


async def test_the_member_record_is_dropped_before_the_callback_runs(runtime, key_hash):
    # given: a member whose record is cached
    access = await runtime.access.get(key_hash)
    assert runtime.access.cached(key_hash) is access
    still_cached = []
    runtime.on_member_change(
        lambda member_id: still_cached.append(runtime.access.cached(key_hash))
    )
    # when: changed in a worker thread, then (cached again) on the loop itself
    await asyncio.to_thread(cache_events.member_changed, access.member_id)
    await asyncio.sleep(0.05)
    assert await runtime.access.get(key_hash) is not None
    cache_events.member_changed(access.member_id)
    # then
    assert still_cached == [None, None]


@pytest.mark.skipif(REDIS_URL is None, reason="needs a Redis")
async def test_a_change_announced_by_another_process_is_told(settings):
    # given: a runtime on Redis, listening
    settings.REDIS_URL = REDIS_URL
    settings.REDIS_KEY_PREFIX = "runtime-test"  # a channel of its own
    runtime = Runtime()
    await runtime.startup()
    calls = Calls()
    runtime.on_member_change(calls)
    publisher = redis.Redis.from_url(settings.REDIS_URL)
    try:
        # when: another process publishes a change (its subscription may take a moment)
        for _ in range(50):
            publisher.publish(cache_events.channel(), '{"member_id": 11}')
            try:
                await asyncio.wait_for(calls.arrived.wait(), 0.1)
                break
            except TimeoutError:
                pass
        # then
        assert calls.seen and calls.seen[0][0] == 11
        assert calls.seen[0][1] == threading.get_ident()
    finally:
        publisher.close()
        await runtime.shutdown()


async def test_upstream_websockets_are_not_held_to_the_rest_pools_limit(settings):
    # This is about the pool's limit, not timeouts: the suite's 0.5 s connect timeout
    # is shorter than a full collection of a test process's heap on a slow machine.
    settings.REDIS_URL = ""
    settings.UPSTREAM_CONNECT_TIMEOUT = 30
    runtime = Runtime()
    await runtime.startup()
    try:
        await _more_streams_than_the_pool_allows(runtime)
    finally:
        await runtime.shutdown()


async def _more_streams_than_the_pool_allows(runtime):
    # given: a WebSocket server on loopback, and more upstream streams to open than
    # the REST pool's 256 connections
    from aiohttp import web

    async def hold(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", hold)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    limit = runtime.session.connector.limit

    # when: opened 23 at a time (a slow machine handshakes 276 at once more slowly
    # than the connect timeout allows), each batch while the earlier ones stay open
    streams = []
    for _ in range(12):
        streams += await asyncio.wait_for(
            asyncio.gather(
                *(
                    runtime.streams_session.ws_connect(f"http://127.0.0.1:{port}/ws")
                    for _ in range((limit + 20) // 12)
                )
            ),
            30,
        )

    # then: every one is open at once
    assert len(streams) > limit and not any(ws.closed for ws in streams)
    await asyncio.gather(*(ws.close() for ws in streams))
    await runner.cleanup()
