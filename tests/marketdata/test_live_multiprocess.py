"""/live across two web processes on PostgreSQL and Redis: the connection limit holds
across them, a killed process gives its slots back within the lease, and changes
close streams in every process within 5 seconds."""

import asyncio
import time

import pytest

from members.services import operations
from tests.marketdata.conftest import free_port
from tests.marketdata.live_helpers import (
    close_all,
    is_series,
    open_at_once,
    open_live,
    series,
)
from tests.webproc import MULTIPROCESS, Web, web_env

LEASE_S = 3
pytestmark = MULTIPROCESS


@pytest.fixture
def two_webs(sandbox, transactional_db, settings, request):
    """Two web processes; slots leased for LEASE_S seconds unless the test is marked
    `lease(seconds)` (a short lease lets a slot lapse if a loaded machine stalls a
    process past it, which only the lease test wants)."""
    marker = request.node.get_closest_marker("lease")
    lease = marker.args[0] if marker else LEASE_S
    env = web_env(sandbox, settings, MARKET_WS_LEASE_SECONDS=str(lease))
    webs = [Web(env, free_port()), Web(env, free_port())]
    yield webs
    for web in webs:
        web.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


@pytest.mark.lease(30)
def test_ten_at_once_across_two_processes_get_exactly_two(two_webs, member_key):
    key = member_key("w1", "mega")
    operations.member_settings_update(
        uid="w1", actor="tests", overrides={"websocket_connections": 2}
    )

    async def scenario():
        opened, refused = await open_at_once([w.url for w in two_webs], key, 10)
        assert len(opened) == 2
        assert set(refused) == {(1008, "connection limit of 2 reached")}
        await close_all(opened)

    run(scenario())


def test_a_killed_process_gives_its_slots_back_within_the_lease(two_webs, member_key):
    key = member_key("w2", "pro")  # 1 connection

    async def scenario():
        ws, frames = await open_live(two_webs[0].url, key, series())
        await frames.wait_for(is_series())
        _, refused = await open_live(two_webs[1].url, key, series())
        assert await refused.close_code() == (1008, "connection limit of 1 reached")
        two_webs[0].kill()
        killed = time.monotonic()
        while True:
            _, frames = await open_live(two_webs[1].url, key, series())
            try:
                await frames.wait_for(is_series(), timeout=3)
                break
            except AssertionError:
                assert time.monotonic() - killed < LEASE_S + 2
                await asyncio.sleep(0.2)
        assert time.monotonic() - killed <= LEASE_S + 1.5

    run(scenario())


def test_changes_close_streams_in_both_processes_within_5_s(two_webs, member_key):
    key = member_key("w3", "mega")  # 3 connections

    async def scenario():
        streams = [await open_live(w.url, key, series()) for w in two_webs]
        for _, frames in streams:
            await frames.wait_for(is_series())
        await asyncio.to_thread(operations.member_cancel, uid="w3", actor="tests")
        started = time.monotonic()
        for _, frames in streams:
            assert await frames.close_code(timeout=6) == (1008, "member cancelled")
        assert time.monotonic() - started < 5

    run(scenario())
