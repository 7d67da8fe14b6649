"""/live in pooled mode: one upstream subscription per distinct stream."""

import asyncio
import json

import httpx
import pytest

from tests.marketdata.live_helpers import (
    close_all,
    has_message,
    is_series,
    open_live,
    series,
)

pytestmark = pytest.mark.django_db(transaction=True)
CODES = ["NASDAQ:AAPL", "NASDAQ:MSFT", "NYSE:TSLA"]


@pytest.fixture
def pooled(settings, sandbox):
    settings.MARKET_WS_MODE = "pooled"
    settings.MARKET_WS_POOL_KEY = sandbox.state.org_key
    settings.MARKET_WS_POOL_GRACE_SECONDS = 0.5
    httpx.post(
        f"{sandbox.url}/_sandbox/live", json={"updates_per_second": 10}, timeout=5
    )


def upstream_connections(sandbox) -> list[dict]:
    """The sandbox's open /live and /newsfeed connections, as its control API lists."""
    return httpx.get(f"{sandbox.url}/_sandbox/live", timeout=5).json()["connections"]


def org_streams(sandbox):
    org = [c for c in upstream_connections(sandbox) if c["key"] == "org"]
    return len(org), sum(len(c["subscriptions"]) for c in org)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


def test_fifty_members_on_three_symbols_are_three_upstream_subscriptions(
    pooled, web, member_key, sandbox
):
    keys = [member_key(f"p{i}", "pro") for i in range(50)]
    late_key = member_key("late", "pro")

    async def scenario():
        opened = await asyncio.gather(
            *(
                open_live(web.url, key, series(CODES[i % 3]))
                for i, key in enumerate(keys)
            )
        )
        for i, (_, frames) in enumerate(opened):
            first = await frames.wait_for(is_series())
            assert first["code"] == CODES[i % 3] and len(first["series"]) == 100
            await frames.wait_for(is_series(1))
        assert org_streams(sandbox) == (1, 3)
        members = [c for c in upstream_connections(sandbox) if c["key"] != "org"]
        assert members == []  # nobody went upstream with a member key
        # a late joiner gets its history from the pool, upstream is not asked again
        late, frames = await open_live(web.url, late_key, series(CODES[0], max_dp=7))
        first = await frames.wait_for(is_series())
        assert len(first["series"]) == 7
        assert org_streams(sandbox) == (1, 3)
        await late.close()
        await close_all(opened)
        await asyncio.sleep(0.2)
        assert org_streams(sandbox) == (1, 3)  # within the grace period
        await asyncio.sleep(1.0)
        assert org_streams(sandbox) == (0, 0)  # torn down

    run(scenario())


@pytest.fixture
def small_pool(settings):
    settings.MARKET_WS_POOL_SUBSCRIPTIONS = 2
    settings.MARKET_WS_POOL_CONNECTIONS = 1


def test_a_full_pool_key_is_said_not_silent(pooled, small_pool, web, member_key):
    key = member_key("full", "ultra")

    async def scenario():
        ws, frames = await open_live(web.url, key, *[series(c) for c in CODES])
        await frames.wait_for(
            has_message("upstream capacity is full; not streaming NYSE:TSLA")
        )
        await ws.close()

    run(scenario())


def test_an_invalid_symbol_is_refused_without_harming_the_others(
    pooled, web, member_key
):
    key = member_key("bad", "ultra")
    other_key = member_key("good", "pro")

    async def scenario():
        ws, frames = await open_live(web.url, key, series(CODES[0]))
        await frames.wait_for(is_series(1))
        other, other_frames = await open_live(web.url, other_key, series(CODES[1]))
        await ws.send(
            json.dumps(
                {
                    "api_key": key,
                    "subscriptions": [series(CODES[0]), series("NOPE:NOPE")],
                }
            )
        )
        await frames.wait_for(has_message("Invalid Symbol Code"))
        mark = len(other_frames.items)
        await other_frames.wait_for(
            lambda m: m in other_frames.items[mark:] and is_series(1)(m)
        )
        mark = len(frames.items)
        await frames.wait_for(lambda m: m in frames.items[mark:] and is_series(1)(m))
        await ws.close()
        await other.close()

    run(scenario())


def test_a_bad_symbol_sent_upstream_with_good_ones_refuses_only_itself(
    pooled, web, member_key, sandbox
):
    # given: two members asking for new streams in the same moment, so that one
    # upstream message carries both, and upstream refuses it whole
    bad_key = member_key("bad2", "ultra")
    good_key = member_key("good2", "pro")

    async def scenario():
        (bad, bad_frames), (good, good_frames) = await asyncio.gather(
            open_live(web.url, bad_key, series(CODES[0]), series("NOPE:NOPE")),
            open_live(web.url, good_key, series(CODES[1])),
        )

        # then: the bad symbol is refused to its member only; every good stream
        # flows, its history first
        await bad_frames.wait_for(has_message("Invalid Symbol Code"))
        for frames, code in ((bad_frames, CODES[0]), (good_frames, CODES[1])):
            first = await frames.wait_for(is_series())
            assert first["code"] == code and len(first["series"]) == 100
            await frames.wait_for(is_series(1))
        assert not any(
            "message" in m for m in good_frames.items if "Connect" not in str(m)
        )
        assert org_streams(sandbox) == (1, 2)
        await bad.close()
        await good.close()

    run(scenario())


def test_changes_in_one_moment_go_upstream_as_one_message(
    pooled, web, member_key, sandbox
):
    keys = [member_key(f"b{i}", "pro") for i in range(20)]

    async def scenario():
        opened = await asyncio.gather(
            *(
                open_live(web.url, key, series(CODES[i % 3]))
                for i, key in enumerate(keys)
            )
        )
        for _, frames in opened:
            await frames.wait_for(is_series())
        sent = upstream_connections(sandbox)
        org = [c for c in sent if c["key"] == "org"]
        assert len(org) == 1 and org[0]["subscription_messages"] <= 3
        await close_all(opened)

    run(scenario())


def test_newsfeed_is_one_upstream_connection_and_joiners_get_the_recent_items(
    pooled, web, member_key, sandbox
):
    keys = [member_key(f"news{i}", "pro") for i in range(3)]

    async def scenario():
        opened = [await open_live(web.url, key, path="/newsfeed") for key in keys]
        for _, frames in opened:
            await frames.wait_for(
                lambda m, f=frames: (
                    len([i for i in f.items if isinstance(i, dict) and "id" in i]) >= 10
                )
            )
        connections = upstream_connections(sandbox)
        assert [c["path"] for c in connections if c["key"] == "org"] == ["/newsfeed"]
        assert [c for c in connections if c["key"] != "org"] == []
        await close_all(opened)

    run(scenario())


@pytest.fixture
def three_small_connections(settings):
    settings.MARKET_WS_POOL_SUBSCRIPTIONS = 2
    settings.MARKET_WS_POOL_CONNECTIONS = 3


def test_the_pool_opens_connections_as_its_key_limit_requires(
    pooled, three_small_connections, web, member_key, sandbox
):
    key = member_key("many", "ultra")  # 5 subscriptions
    codes = [*CODES, "NASDAQ:NVDA", "NASDAQ:QQQ"]

    async def scenario():
        ws, frames = await open_live(web.url, key, *[series(c) for c in codes])
        for code in codes:
            await frames.wait_for(lambda m, c=code: is_series(1)(m) and m["code"] == c)
        assert org_streams(sandbox) == (3, 5)
        await ws.close()

    run(scenario())


def test_a_dropped_pool_connection_is_told_resubscribed_and_resumes(
    pooled, settings, web, member_key, sandbox
):
    keys = [member_key(f"d{i}", "pro") for i in range(2)]

    async def scenario():
        opened = [await open_live(web.url, k, series(CODES[0])) for k in keys]
        for _, frames in opened:
            await frames.wait_for(is_series(1))
        httpx.post(f"{sandbox.url}/_sandbox/live", json={"drop": True}, timeout=5)
        for _, frames in opened:
            await frames.wait_for(has_message("connection lost"))
            await frames.wait_for(has_message("Reconnected"), timeout=8)
            mark = len(frames.items)
            await frames.wait_for(
                lambda m, f=frames, n=mark: m in f.items[n:] and is_series(1)(m)
            )
            histories = [
                m for m in frames.items if is_series()(m) and len(m["series"]) > 1
            ]
            assert len(histories) == 1  # the refreshed history is not sent again
        await close_all(opened)

    run(scenario())
