"""/live and /newsfeed through the gateway in member mode, against the sandbox."""

import asyncio
import datetime as dt
import json

import httpx
import pytest

from members.models import Member
from members.services import cache_events, operations
from tests.docs_examples import run_python_live
from tests.marketdata.live_helpers import (
    close_all,
    has_message,
    is_series,
    open_at_once,
    open_live,
    series,
    subscription,
    ws_url,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_config(sandbox):
    def configure(**fields):
        answer = httpx.post(f"{sandbox.url}/_sandbox/live", json=fields, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()

    configure(updates_per_second=20)
    return configure


def sandbox_live(sandbox):
    return httpx.get(f"{sandbox.url}/_sandbox/live", timeout=5).json()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_the_docs_python_example_runs_unchanged_but_for_url_and_key(
    web, member_key, live_config, capsys
):
    key = member_key("docs", "pro")
    run_python_live(ws_url(web.url), key)
    assert capsys.readouterr().out == "{'message': 'Connecting...'}\n"


def test_a_member_streams_what_upstream_streams(web, member_key, live_config, sandbox):
    key = member_key("m1", "pro")

    async def scenario():
        ws, frames = await open_live(web.url, key, series("NASDAQ:AAPL"))
        first = await frames.wait_for(is_series())
        assert frames.items[0] == {"message": "Connecting..."}
        assert "Connected to orgportal" in frames.messages()
        assert first["code"] == "NASDAQ:AAPL" and first["bar_type"] == "1m"
        assert len(first["series"]) == 100
        await frames.wait_for(is_series(1))  # updates follow
        connections = sandbox_live(sandbox)["connections"]
        assert [c["key"] for c in connections] == ["m1"]  # the member's own key
        await ws.send("ping")
        await frames.wait_for(lambda m: m == "pong")
        await ws.send("not json")
        await ws.send(json.dumps({"type": "auth", "api_key": key}))
        await ws.send(b"\x00binary")
        await frames.wait_for(is_series(1))  # still streaming
        await ws.close()

    run(scenario())


def test_replace_all_and_refusals_change_nothing(web, member_key, live_config):
    key = member_key("m2", "pro")  # 2 subscriptions

    async def scenario():
        ws, frames = await open_live(web.url, key, series("NASDAQ:AAPL"))
        await frames.wait_for(is_series())
        await ws.send(subscription(key, series("A:A"), series("B:B"), series("C:C")))
        await frames.wait_for(has_message("Subscription limit exceeded: 2 allowed"))
        await ws.send(subscription(key, series("NASDAQ:AAPL", bar_type="tick")))
        await frames.wait_for(has_message("Tick data is not included"))
        await ws.send(subscription(key))
        await frames.wait_for(has_message("cannot be empty"))
        await ws.send(subscription("another-key", series("NASDAQ:MSFT")))
        await frames.wait_for(has_message("api_key must be the key"))
        mark = len(frames.items)
        await frames.wait_for(lambda m: m in frames.items[mark:] and is_series(1)(m))
        assert {m["code"] for m in frames.data()} == {"NASDAQ:AAPL"}
        await ws.send(subscription(key, series("NASDAQ:MSFT", max_dp=5000)))
        await frames.wait_for(
            has_message("max_dp for NASDAQ:MSFT lowered to the plan maximum 1000")
        )
        first = await frames.wait_for(
            lambda m: is_series()(m) and m["code"] == "NASDAQ:MSFT"
        )
        assert len(first["series"]) == 1000
        mark = len(frames.items)
        await asyncio.sleep(0.5)
        assert {m["code"] for m in frames.items[mark:] if is_series()(m)} == {
            "NASDAQ:MSFT"
        }
        await ws.close()

    run(scenario())


def test_bad_keys_and_silence_are_closed_with_a_reason(web, member_key, settings):
    settings.MARKET_WS_FIRST_MESSAGE_SECONDS = 0.5

    async def scenario():
        ws, frames = await open_live(web.url, "not-a-key", series())
        assert await frames.close_code() == (1008, "invalid api key")
        assert "Invalid API key" in frames.messages()
        ws, frames = await open_live(web.url, "x")  # says nothing
        assert await frames.close_code() == (
            1008,
            "no subscription message within 0.5 s",
        )

    run(scenario())


def test_connection_limit_is_exact(web, member_key, live_config):
    key = member_key("m3", "mega")
    operations.member_settings_update(
        uid="m3", actor="tests", overrides={"websocket_connections": 2}
    )

    async def scenario():
        opened, refused = await open_at_once([web.url], key, 10)
        assert len(opened) == 2
        assert set(refused) == {(1008, "connection limit of 2 reached")}
        await close_all(opened)
        closed_at = asyncio.get_running_loop().time()
        while True:  # the slots come back once the connections are gone
            ws, frames = await open_live(web.url, key, series())
            try:
                await frames.wait_for(is_series())
                break
            except AssertionError:
                assert asyncio.get_running_loop().time() - closed_at < 3
        print("slot back after", asyncio.get_running_loop().time() - closed_at)
        await ws.close()

    run(scenario())


def test_revocation_cancel_and_expiry_close_open_streams(web, member_key, live_config):
    keys = {uid: member_key(uid, "pro") for uid in ("r1", "r2", "r3", "r4", "r5")}

    async def scenario():
        streams = {}
        for uid, key in keys.items():
            streams[uid] = await open_live(web.url, key, series())
            await streams[uid][1].wait_for(is_series())
        await asyncio.to_thread(operations.member_key_rotate, uid="r1", actor="tests")
        await asyncio.to_thread(operations.member_cancel, uid="r2", actor="tests")
        await asyncio.to_thread(operations.member_keys_revoke, uid="r4", actor="tests")
        await asyncio.to_thread(operations.member_delete, uid="r5", actor="tests")

        def expire_soon():
            member = Member.objects.get(uid="r3")
            Member.objects.filter(pk=member.pk).update(
                term_end=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
            )
            cache_events.member_changed(member.pk)

        await asyncio.to_thread(expire_soon)
        started = asyncio.get_running_loop().time()
        codes = {uid: await s[1].close_code(timeout=6) for uid, s in streams.items()}
        assert asyncio.get_running_loop().time() - started < 5
        assert codes == {
            "r1": (1008, "api key revoked or rotated"),
            "r2": (1008, "member cancelled"),
            "r3": (1008, "member expired"),
            "r4": (1008, "api key revoked or rotated"),
            "r5": (1008, "api key revoked or rotated"),  # deleting revokes its keys
        }

    run(scenario())


def test_a_downgrade_trims_subscriptions(web, member_key, live_config, sandbox):
    key = member_key("d1", "ultra")  # 5

    async def scenario():
        codes = ["NASDAQ:AAPL", "NASDAQ:MSFT", "NYSE:TSLA", "NASDAQ:NVDA"]
        ws, frames = await open_live(web.url, key, *[series(c) for c in codes])
        for code in codes:
            await frames.wait_for(lambda m, c=code: is_series()(m) and m["code"] == c)
        await asyncio.to_thread(
            operations.member_change_plan, uid="d1", plan="pro", actor="tests"
        )
        note = await frames.wait_for(has_message("subscriptions trimmed to 2"))
        assert "NYSE:TSLA, NASDAQ:NVDA" in note["message"]
        await asyncio.sleep(0.5)
        mark = len(frames.items)
        await asyncio.sleep(0.5)
        assert {m["code"] for m in frames.items[mark:] if is_series()(m)} == set(
            codes[:2]
        )
        await ws.close()

    run(scenario())


def test_newsfeed_gets_the_recent_items_then_new_ones(web, member_key, live_config):
    key = member_key("n1", "pro")
    no_news = member_key("n2", "pro")
    operations.member_settings_update(
        uid="n2", actor="tests", overrides={"newsfeed": False}
    )
    live_config(news_every_seconds=0.2)

    async def scenario():
        ws, frames = await open_live(web.url, key, path="/newsfeed")

        def news():
            return [
                m for m in frames.items if isinstance(m, dict) and "message" not in m
            ]

        await frames.wait_for(lambda m: len(news()) >= 12, timeout=8)
        ids = [item["id"] for item in news()]
        assert len(ids) == len(set(ids))  # the 10 recent ones, then new ones
        await ws.close()
        ws, frames = await open_live(web.url, no_news, path="/newsfeed")
        assert await frames.close_code() == (1008, "news feed not in plan")

    run(scenario())


def test_an_upstream_drop_is_told_resubscribed_and_data_resumes(
    web, member_key, live_config, settings
):
    settings.MARKET_WS_BACKOFF_BASE = 0.1
    key = member_key("u1", "pro")

    async def scenario():
        ws, frames = await open_live(web.url, key, series())
        await frames.wait_for(is_series(1))
        live_config(garbage_rate=1.0)
        await asyncio.sleep(0.3)
        live_config(garbage_rate=0.0, drop=True)
        await frames.wait_for(has_message("connection lost"))
        await frames.wait_for(has_message("Reconnected"))
        mark = len(frames.items)
        await frames.wait_for(lambda m: m in frames.items[mark:] and is_series()(m))
        assert all(
            isinstance(i, dict) or i == "pong" for i in frames.items
        )  # no garbage
        live_config(close_error="maintenance")
        await frames.wait_for(has_message("upstream error (maintenance)"))
        mark = len(frames.items)
        await frames.wait_for(lambda m: m in frames.items[mark:] and is_series()(m))
        await ws.close()

    run(scenario())


@pytest.fixture
def quick_supervision(settings):
    settings.MARKET_WS_BACKOFF_BASE = 0.1
    settings.MARKET_WS_BACKOFF_CAP = 0.5
    settings.MARKET_WS_STALE_SECONDS = 1.0


def test_a_stalled_or_refusing_upstream_is_reopened(
    quick_supervision, web, member_key, live_config
):
    key = member_key("s1", "pro")

    async def scenario():
        ws, frames = await open_live(web.url, key, series())
        await frames.wait_for(is_series(1))
        live_config(stall_seconds=30, refuse_seconds=1.5)
        await frames.wait_for(has_message("connection lost (stale)"), timeout=5)
        live_config(stall_seconds=0)
        await frames.wait_for(has_message("Reconnected"), timeout=8)
        mark = len(frames.items)
        await frames.wait_for(lambda m: m in frames.items[mark:] and is_series(1)(m))
        await ws.close()

    run(scenario())
