"""The simulated market data WebSockets (`/live`, `/newsfeed`), driven like a client of
the real upstream: members come from the Organization API and connect with their
upstream key. The documented flow, authentication and keeping
the connection."""

import json
import time

import pytest
from websockets.asyncio.client import connect

from tests.conftest import ORG_KEY
from tests.docs_examples import run_python_live
from tests.sandbox import helpers as client
from tests.sandbox.live import helpers as live
from tests.sandbox.live.helpers import BTC

# --- the documented flow --------------------------------------------------------------


def test_the_docs_python_example_runs_unchanged(sandbox, capsys):
    # when: the docs' example with the sandbox's URL and key
    run_python_live(sandbox.url.replace("http://", "ws://") + "/live", ORG_KEY)

    # then
    assert capsys.readouterr().out == "{'message': 'Connecting...'}\n"


async def test_a_member_created_through_the_org_api_streams_history_then_updates(
    org, ws_url
):
    # given
    key = client.member_key(org, "alice", "pro")
    live.configure(org, updates_per_second=20)

    # when
    ws = await live.open_live(ws_url("/live"), key, [live.minute("NASDAQ:AAPL")])
    history = await client.recv_json(ws)
    update = await live.next_where(ws, live.is_update("NASDAQ:AAPL"))

    # then
    assert list(history) == ["code", "bar_end", "last_update", "bar_type", "series"]
    assert history["code"] == "NASDAQ:AAPL" and history["bar_type"] == "1m"
    assert len(history["series"]) == 100
    assert list(history["series"][-1]) == [
        "time",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    assert abs(history["last_update"] - time.time() * 1000) < 2_000
    assert update["series"][0]["time"] >= history["series"][-1]["time"]
    listed = live.live_state(org)["connections"]
    assert [(c["path"], c["key"]) for c in listed] == [("/live", "alice")]
    assert listed[0]["subscriptions"][0]["code"] == "NASDAQ:AAPL"
    await ws.close()


# --- authentication -------------------------------------------------------------------


async def test_an_unknown_key_is_told_and_closed_with_1008(ws_url):
    async with connect(ws_url("/live")) as ws:
        await client.recv(ws)
        await live.subscribe(ws, "not-a-key", [live.minute(BTC)])

        assert await client.recv_json(ws) == {"message": "Invalid API key"}
        assert await client.closed(ws) == (1008, "invalid api key")


@pytest.mark.parametrize("how", ["cancel", "expire"])
async def test_an_inactive_member_is_told_and_closed_with_1008(org, ws_url, how):
    # given
    key = client.member_key(org, "bob", "pro")
    if how == "cancel":
        org.post("/api/organization/members/bob/cancel").raise_for_status()
    else:
        org.post("/_sandbox/members/bob/expire").raise_for_status()

    # when
    async with connect(ws_url("/live")) as ws:
        await client.recv(ws)
        await live.subscribe(ws, key, [live.minute(BTC)])

        # then
        assert await client.recv_json(ws) == {"message": "Subscription inactive"}
        assert await client.closed(ws) == (1008, "subscription inactive")


async def test_unknown_frames_before_the_subscription_are_ignored(org, ws_url):
    async with connect(ws_url("/live")) as ws:
        await client.recv(ws)
        # Some clients authenticate first; text that is not JSON; binary; not objects.
        await ws.send(json.dumps({"type": "auth", "api_key": ORG_KEY}))
        await ws.send("hello")
        await ws.send(b"\x00\x01")
        await ws.send("[1, 2]")
        await ws.send(json.dumps({"subscriptions": [live.minute(BTC)]}))

        await live.subscribe(ws, ORG_KEY, [live.minute(BTC)])

        assert await client.recv_json(ws) == {"message": "Connected to SANDBOX:LOCAL"}
        assert (await client.recv_json(ws))["code"] == BTC


async def test_no_valid_first_message_in_time_closes_with_1008(org, ws_url):
    # given
    live.configure(org, auth_timeout_seconds=0.3)
    async with connect(ws_url("/live")) as ws:
        await client.recv(ws)
        started = time.monotonic()

        # when: only frames that do not authenticate
        await ws.send(json.dumps({"type": "auth", "api_key": ORG_KEY}))

        # then
        assert await client.recv_json(ws) == {"message": "Authentication timeout"}
        assert await client.closed(ws) == (1008, "authentication timeout")
        assert 0.2 < time.monotonic() - started < 2


# --- keeping the connection -----------------------------------------------------------


async def test_ping_is_answered_pong_and_heartbeats_come_on_time(org, ws_url):
    # given
    live.configure(org, heartbeat_seconds=0.2)
    ws = await live.open_live(
        ws_url("/live"), ORG_KEY, [{"code": BTC, "type": "quote"}]
    )

    # when
    await ws.send("ping")
    pinged = await ws.ping()  # a protocol ping too
    frames = await client.frames_for(ws, 0.7)

    # then
    assert "pong" in frames
    assert pinged.done()
    beats = [json.loads(f) for f in frames if f.startswith('{"server_time"')]
    assert 2 <= len(beats) <= 4
    assert all(list(beat) == ["server_time"] for beat in beats)
    assert abs(beats[-1]["server_time"] - time.time() * 1000) < 1_000
    await ws.close()
