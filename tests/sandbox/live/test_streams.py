"""The simulated market data WebSockets (`/live`, `/newsfeed`), driven like a client of
the real upstream: members come from the Organization API and connect with their
upstream key. History, update rate, bar types, phases,
slow readers and ticks."""

import asyncio
import json
import socket
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import ORG_KEY
from tests.sandbox import helpers as client
from tests.sandbox.live import helpers as live
from tests.sandbox.live.helpers import BTC, ETH

HISTORY_SIZES = [
    ("pro", {}, 100),
    ("pro", {"recent_bars": False}, 1),
    ("pro", {"max_dp": 500}, 500),
    ("pro", {"max_dp": 5000}, 1000),
    ("pro", {"max_dp": "lots", "recent_bars": False}, 1000),
    ("pro", {"max_dp": 0}, 1000),
    ("mega", {"max_dp": 5000}, 5000),
    ("mega", {"max_dp": 99_999}, 30_000),
    ("mega", {"max_bars": True, "max_dp": 7}, 7),
    ("mega", {"max_bars": True, "recent_bars": False}, 30_000),
]


async def test_the_first_message_carries_the_asked_history(org, ws_url):
    keys = {
        plan: client.member_key(org, f"{plan}-member", plan) for plan in ("pro", "mega")
    }
    for plan, options, bars in HISTORY_SIZES:
        ws = await live.open_live(
            ws_url("/live"), keys[plan], [live.minute(ETH, **options)], max_size=None
        )
        history = await client.recv_json(ws, 10)
        assert len(history["series"]) == bars, (plan, options)
        times = [row["time"] for row in history["series"]]
        assert times == sorted(set(times))
        await ws.close()


async def test_history_equals_the_rest_series_at_the_same_second(org, ws_url):
    # given
    key = client.member_key(org, "gina", "mega")
    rest = httpx.Client(
        base_url=org.base_url, headers={"Authorization": f"Bearer {key}"}
    )
    params = {"bar_type": "minute", "bar_interval": 5, "data_points": 100}
    for _ in range(5):
        # when
        second = int(time.time())
        ws = await live.open_live(
            ws_url("/live"), key, [live.minute(BTC, bar_interval=5)]
        )
        history = await client.recv_json(ws)
        answer = rest.get(f"/v3/symbols/{BTC}/series", params=params).json()
        await ws.close()
        if second == int(time.time()):
            break
    rest.close()

    # then
    assert history["bar_type"] == answer["bar_type"] == "5m"
    assert history["bar_end"] == answer["bar_end"]
    assert history["series"] == answer["series"]


async def test_updates_come_at_the_set_rate_with_the_send_time(org, ws_url):
    # given
    ws = await live.open_live(
        ws_url("/live"), ORG_KEY, [live.minute(BTC), live.minute(ETH)]
    )
    await client.recv_json(ws)
    await client.recv_json(ws)

    # when: the rate is raised while connected
    live.configure(org, updates_per_second=200)
    await client.frames_for(ws, 0.2)
    received = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        message = await client.recv_json(ws)
        received.append((time.time() * 1000, message))

    # then
    btc = [m for _, m in received if m.get("code") == BTC]
    assert 150 <= len(btc) <= 250
    assert all(len(m["series"]) == 1 and m["bar_type"] == "1m" for m in btc)
    lags = sorted(at - m["last_update"] for at, m in received)
    assert -5 <= lags[0] and lags[len(lags) // 2] < 100
    stamps = [m["last_update"] for m in btc]
    assert stamps == sorted(stamps)
    await ws.close()


async def test_every_bar_type_streams_with_its_label(org, ws_url):
    sizes = [("second", 15, "15s"), ("hour", 4, "4h"), ("day", 1, "1d")]
    sizes += [("week", 1, "1W"), ("month", 3, "3M")]
    subscriptions = [
        {"code": ETH, "bar_type": bar_type, "bar_interval": interval}
        for bar_type, interval, _ in sizes
    ]
    ws = await live.open_live(ws_url("/live"), ORG_KEY, subscriptions)

    histories = [await client.recv_json(ws) for _ in sizes]

    assert [h["bar_type"] for h in histories] == [label for *_, label in sizes]
    assert all(1 <= len(h["series"]) <= 100 for h in histories)
    assert len(histories[0]["series"]) == 100
    await ws.close()


@pytest.mark.parametrize("phases", ["spread", "aligned"])
async def test_streams_tick_at_their_own_phase_unless_aligned(org, ws_url, phases):
    # given: three streams at 20 updates/s
    live.configure(org, updates_per_second=20, phases=phases)
    codes = (BTC, ETH, "FX:EURUSD")
    ws = await live.open_live(
        ws_url("/live"), ORG_KEY, [live.minute(code) for code in codes]
    )
    await client.frames_for(ws, 0.3)  # the histories

    # when
    frames = [json.loads(f) for f in await client.frames_for(ws, 1.0)]

    # then: one build moment (last_update) per tick, shared by every stream only when
    # aligned; spread, streams share one only by accident (a late wake-up)
    moments = {code: set() for code in codes}
    for frame in frames:
        if frame.get("code") in moments:
            moments[frame["code"]].add(frame["last_update"])
    assert all(len(seen) >= 15 for seen in moments.values()), moments
    shared = set.intersection(*moments.values())
    if phases == "aligned":
        assert len(shared) >= 15
    else:
        assert len(shared) <= 2
        assert len(moments[BTC] & moments[ETH]) <= 2
    await ws.close()


async def test_a_slow_reader_loses_frames_without_holding_up_others(
    org, ws_url, sandbox
):
    # given: a reader that stops reading at once, behind three 30,000-bar histories
    live.configure(org, updates_per_second=100)
    codes = (BTC, ETH, "FX:EURUSD")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((sandbox.host, sandbox.port))
    slow = await connect(ws_url("/live"), sock=sock, max_queue=1, max_size=None)
    await live.subscribe(
        slow, ORG_KEY, [live.minute(code, max_bars=True) for code in codes]
    )
    fast = await live.open_live(
        ws_url("/live"), ORG_KEY, [live.minute(code) for code in codes]
    )

    # when
    for _ in range(200):
        listed = live.live_state(org)["connections"]
        if any(c["dropped"] for c in listed):
            break
        await asyncio.sleep(0.05)
    await client.frames_for(fast, 0.1)
    frames = await client.frames_for(fast, 0.5)

    # then: the slow one drops, the other keeps its rate
    dropped = sorted(c["dropped"] for c in live.live_state(org)["connections"])
    assert dropped[0] == 0 and dropped[1] > 0
    assert len(frames) >= 100
    slow.transport.abort()
    await fast.close()


async def test_tick_subscriptions_send_trades(org, ws_url):
    key = client.member_key(org, "hank", "mega")
    live.configure(org, updates_per_second=20)
    ws = await live.open_live(ws_url("/live"), key, [{"code": BTC, "bar_type": "tick"}])
    history = await client.recv_json(ws)
    update = await live.next_where(ws, live.is_update(BTC))

    assert history["bar_type"] == update["bar_type"] == "tick"
    assert len(history["series"]) == 100
    trade = update["series"][0]
    assert trade["open"] == trade["high"] == trade["low"] == trade["close"]
    assert update["bar_end"] == trade["time"] >= history["series"][-1]["time"]
    await ws.close()
