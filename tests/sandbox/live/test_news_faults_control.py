"""The simulated market data WebSockets (`/live`, `/newsfeed`), driven like a client of
the real upstream: members come from the Organization API and connect with their
upstream key. The news feed, injected faults and the
control API (`/_sandbox/live`)."""

import asyncio
import dataclasses
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from sandbox.server import SandboxServer
from tests.conftest import ORG_KEY
from tests.sandbox import helpers as client
from tests.sandbox.live import helpers as live
from tests.sandbox.live.helpers import BTC

# --- news feed ------------------------------------------------------------------------


async def test_the_newsfeed_sends_the_ten_latest_then_new_items(org, ws_url):
    # given
    key = client.member_key(org, "ivy", "pro")
    rest = httpx.get(
        f"{org.base_url}/v3/newsfeed",
        params={"limit": 10},
        headers={"Authorization": f"Bearer {key}"},
    ).json()["data"]
    async with connect(ws_url("/newsfeed"), max_queue=None) as ws:
        assert await client.recv_json(ws) == {"message": "Connecting..."}
        await ws.send(json.dumps({"api_key": key}))
        assert await client.recv_json(ws) == {"message": "Connected to SANDBOX:LOCAL"}

        # when
        latest = [await client.recv_json(ws) for _ in range(10)]
        live.configure(org, news_every_seconds=0.05)
        fresh = [await client.recv_json(ws) for _ in range(8)]

    # then
    assert latest == list(reversed(rest))
    ids = [item["id"] for item in latest + fresh]
    assert len(set(ids)) == 18
    assert all(set(item) == set(rest[0]) for item in fresh)
    published = [item["published_at"] for item in latest + fresh]
    assert published == sorted(published)
    assert fresh[-1]["published_at"] - fresh[0]["published_at"] == pytest.approx(
        0.35, abs=0.01
    )


async def test_a_plan_without_the_news_feed_is_closed(org, ws_url, sandbox):
    # given
    pro = sandbox.state.plans["pro"]
    limits = dataclasses.replace(pro.limits, newsfeed=False)
    sandbox.state.plans["quiet"] = dataclasses.replace(
        pro, name="quiet", limits=limits, custom=True
    )
    key = client.member_key(org, "jack", "quiet")

    async with connect(ws_url("/newsfeed")) as ws:
        await client.recv(ws)
        await ws.send(json.dumps({"api_key": key}))

        assert await client.recv_json(ws) == {"message": "News feed not in plan"}
        assert await client.closed(ws) == (1008, "news feed not in plan")


# --- faults ---------------------------------------------------------------------------


async def test_refused_upgrades_answer_503_for_the_set_time(org, ws_url):
    live.configure(org, refuse_seconds=0.4)
    assert 0 < live.live_state(org)["config"]["refuse_seconds"] <= 0.4

    with pytest.raises(InvalidStatus) as refusal:
        await connect(ws_url("/live"))
    assert refusal.value.response.status_code == 503

    await asyncio.sleep(0.5)
    ws = await live.open_live(ws_url("/live"), ORG_KEY, [live.minute(BTC)])
    await ws.close()


async def test_a_stall_sends_nothing_then_everything_resumes(org, ws_url):
    # given
    live.configure(org, updates_per_second=20, heartbeat_seconds=0.1)
    ws = await live.open_live(ws_url("/live"), ORG_KEY, [live.minute(BTC)])
    await live.next_where(ws, live.is_update(BTC))

    # when
    live.configure(org, stall_seconds=0.6)
    await client.frames_for(ws, 0.05)  # sent before the stall
    await ws.send("ping")
    pinged = await ws.ping()
    during = await client.frames_for(ws, 0.45)

    # then
    assert during == []
    assert not pinged.done()
    after = await client.frames_for(ws, 0.5)
    assert any('"server_time"' in f for f in after)
    assert any(f'"code":"{BTC}"' in f for f in after)
    await ws.send("ping")
    assert "pong" in await client.frames_for(ws, 0.2)
    await ws.close()


async def test_garbage_frames_replace_the_set_share_of_data(org, ws_url):
    # given
    live.configure(org, updates_per_second=50, garbage_rate=1)
    ws = await live.open_live(ws_url("/live"), ORG_KEY, [live.minute(BTC)])

    # when
    await ws.send("ping")
    frames = await client.frames_for(ws, 0.3)
    live.configure(org, garbage_rate=0)
    await client.frames_for(ws, 0.1)
    clean = await client.frames_for(ws, 0.2)

    # then: data garbled (never JSON), the pong untouched
    assert "pong" in frames
    data = [frame for frame in frames if frame != "pong"]
    assert len(data) >= 5
    for frame in data:
        with pytest.raises(ValueError):
            json.loads(frame)
        assert frame.startswith("{")
    assert clean and all(json.loads(f)["code"] == BTC for f in clean)
    await ws.close()


async def test_drop_cuts_every_connection_without_a_close_frame(org, ws_url):
    ws = await live.open_live(ws_url("/live"), ORG_KEY, [live.minute(BTC)])
    news = await connect(ws_url("/newsfeed"))
    await client.recv(news)

    live.configure(org, drop=True)

    assert await client.closed(ws) == (None, None)
    assert await client.closed(news) == (None, None)
    await asyncio.sleep(0.05)
    assert live.live_state(org)["connections"] == []


async def test_close_error_says_why_then_closes_with_1011(org, ws_url):
    ws = await live.open_live(ws_url("/live"), ORG_KEY, [live.minute(BTC)])

    live.configure(org, close_error="maintenance")

    assert await live.next_where(ws, live.is_status) == {"message": "maintenance"}
    assert await client.closed(ws) == (1011, "maintenance")


async def test_stopping_the_server_closes_its_websockets_promptly():
    server = SandboxServer(org_key=ORG_KEY).start()
    url = server.url.replace("http://", "ws://") + "/live"
    ws = await live.open_live(url, ORG_KEY, [live.minute(BTC)])

    started = time.monotonic()
    await asyncio.to_thread(server.stop)

    assert time.monotonic() - started < 1.5
    assert (await client.closed(ws))[0] == 1001


# --- control API ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"updates_per_second": 0}, "updates_per_second"),
        ({"updates_per_second": 1001}, "updates_per_second"),
        ({"updates_per_second": "fast"}, "updates_per_second"),
        ({"heartbeat_seconds": True}, "heartbeat_seconds"),
        ({"auth_timeout_seconds": 0}, "auth_timeout_seconds"),
        ({"news_every_seconds": 0.01}, "news_every_seconds"),
        ({"org_ws_symbols": -1}, "org_ws_symbols"),
        ({"org_ws_connections": 1.5}, "org_ws_connections"),
        ({"subscription_rate_limit": 0}, "subscription_rate_limit"),
        ({"refuse_seconds": -1}, "refuse_seconds"),
        ({"stall_seconds": "1"}, "stall_seconds"),
        ({"garbage_rate": 1.5}, "garbage_rate"),
        ({"phases": "random"}, "phases"),
        ({"phases": None}, "phases"),
        ({"drop": "yes"}, "drop"),
        ({"close_error": ""}, "close_error"),
        ({"close_error": "x" * 200}, "close_error"),
        ({"updates_per_second": 5, "turbo": True}, "turbo"),
        ([1], "body"),
    ],
)
def test_the_control_api_refuses_bad_values_and_changes_nothing(org, body, field):
    response = org.post("/_sandbox/live", json=body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["success"] is False
    assert answer["code"] == "INVALID_REQUEST"
    assert answer["details"] == {"field": field}
    assert live.live_state(org)["config"]["updates_per_second"] == 1.0


def test_the_control_api_shows_and_reset_restores_the_defaults(org):
    defaults = live.live_state(org)
    assert defaults == {
        "success": True,
        "config": {
            "updates_per_second": 1.0,
            "phases": "spread",
            "heartbeat_seconds": 10.0,
            "news_every_seconds": None,
            "auth_timeout_seconds": 30.0,
            "org_ws_symbols": 100,
            "org_ws_connections": 10,
            "subscription_rate_limit": 300,
            "subscription_rate_window_seconds": 300.0,
            "refuse_seconds": 0.0,
            "stall_seconds": 0.0,
            "garbage_rate": 0.0,
        },
        "connections": [],
        "streams": 0,
    }

    changed = live.configure(
        org,
        updates_per_second=1000,
        news_every_seconds=0.05,
        org_ws_symbols=7,
        garbage_rate=0.25,
        stall_seconds=30,
        phases="aligned",
    )
    assert changed["config"]["updates_per_second"] == 1000
    assert changed["config"]["phases"] == "aligned"
    assert changed["config"]["news_every_seconds"] == 0.05
    assert changed["config"]["org_ws_symbols"] == 7
    assert 29 < changed["config"]["stall_seconds"] <= 30

    org.post("/_sandbox/reset").raise_for_status()
    assert live.live_state(org) == defaults
