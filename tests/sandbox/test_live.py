"""The simulated market data WebSockets (`/live`, `/newsfeed`) and their control API
(`/_sandbox/live`), driven like a client of the real upstream: members come from the
Organization API and connect with their upstream key."""

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sandbox.server import SandboxServer
from sandbox.synth.catalogue import searchable
from tests.conftest import ORG_KEY
from tests.docs_examples import run_python_live
from tests.sandbox.test_market import QUOTE_KEYS

BTC = "BINANCE:BTCUSDT"
ETH = "BINANCE:ETHUSDT"
WAIT = 3.0  # seconds any one expected frame may take


# --- helpers --------------------------------------------------------------------------


@pytest.fixture
def org(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The Organization API and, without a key, the control API."""
    headers = {"Authorization": f"Bearer {ORG_KEY}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
def ws_url(sandbox: SandboxServer) -> Callable[[str], str]:
    return lambda path: sandbox.url.replace("http://", "ws://") + path


def member_key(org: httpx.Client, uid: str, plan: str) -> str:
    response = org.post(
        "/api/organization/members/create", json={"uid": uid, "plan": plan}
    )
    assert response.status_code == 200, response.text
    return response.json()["member"]["api_key"]


def configure(org: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = org.post("/_sandbox/live", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


def live_state(org: httpx.Client) -> dict[str, Any]:
    return org.get("/_sandbox/live").json()


async def recv(ws: ClientConnection, timeout: float = WAIT) -> str:
    return await asyncio.wait_for(ws.recv(), timeout)


async def recv_json(ws: ClientConnection, timeout: float = WAIT) -> Any:
    return json.loads(await recv(ws, timeout))


async def next_where(
    ws: ClientConnection, wanted: Callable[[dict], bool], timeout: float = WAIT
) -> dict[str, Any]:
    """The next JSON frame `wanted` accepts, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        message = await recv_json(ws, max(0.01, deadline - time.monotonic()))
        if isinstance(message, dict) and wanted(message):
            return message


def is_status(message: dict) -> bool:
    return "message" in message


def is_update(code: str) -> Callable[[dict], bool]:
    return lambda m: m.get("code") == code and len(m.get("series", ())) == 1


async def frames_for(ws: ClientConnection, seconds: float) -> list[str]:
    """Every frame received in the next `seconds`."""
    frames: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frames.append(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
    return frames


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server ends the connection; its close code and reason (None
    when it was cut without a close frame)."""
    with pytest.raises(ConnectionClosed) as ended:
        for _ in range(100_000):
            await recv(ws)
    rcvd = ended.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)


def minute(code: str, **options: Any) -> dict[str, Any]:
    return {"code": code, "type": "series", "bar_type": "minute", **options}


async def subscribe(
    ws: ClientConnection, key: str, subscriptions: list[dict[str, Any]]
) -> None:
    await ws.send(json.dumps({"api_key": key, "subscriptions": subscriptions}))


async def open_live(
    url: str, key: str, subscriptions: list[dict[str, Any]], **options: Any
) -> ClientConnection:
    """A /live connection past "Connecting..." and "Connected to ...". It buffers all
    it receives: a client that stops reading (flow control) could not see the server's
    close frame, and its close would wait for its timeout."""
    options.setdefault("max_queue", None)
    ws = await connect(url, **options)
    assert await recv_json(ws) == {"message": "Connecting..."}
    await subscribe(ws, key, subscriptions)
    assert await recv_json(ws) == {"message": "Connected to SANDBOX:LOCAL"}
    return ws


async def refused(ws: ClientConnection, message: str) -> dict[str, Any]:
    """The next status message, which must say `message`."""
    answer = await next_where(ws, is_status)
    assert answer["message"] == message, answer
    assert "code" not in answer
    return answer


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
    key = member_key(org, "alice", "pro")
    configure(org, updates_per_second=20)

    # when
    ws = await open_live(ws_url("/live"), key, [minute("NASDAQ:AAPL")])
    history = await recv_json(ws)
    update = await next_where(ws, is_update("NASDAQ:AAPL"))

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
    listed = live_state(org)["connections"]
    assert [(c["path"], c["key"]) for c in listed] == [("/live", "alice")]
    assert listed[0]["subscriptions"][0]["code"] == "NASDAQ:AAPL"
    await ws.close()


# --- authentication -------------------------------------------------------------------


async def test_an_unknown_key_is_told_and_closed_with_1008(ws_url):
    async with connect(ws_url("/live")) as ws:
        await recv(ws)
        await subscribe(ws, "not-a-key", [minute(BTC)])

        assert await recv_json(ws) == {"message": "Invalid API key"}
        assert await closed(ws) == (1008, "invalid api key")


@pytest.mark.parametrize("how", ["cancel", "expire"])
async def test_an_inactive_member_is_told_and_closed_with_1008(org, ws_url, how):
    # given
    key = member_key(org, "bob", "pro")
    if how == "cancel":
        org.post("/api/organization/members/bob/cancel").raise_for_status()
    else:
        org.post("/_sandbox/members/bob/expire").raise_for_status()

    # when
    async with connect(ws_url("/live")) as ws:
        await recv(ws)
        await subscribe(ws, key, [minute(BTC)])

        # then
        assert await recv_json(ws) == {"message": "Subscription inactive"}
        assert await closed(ws) == (1008, "subscription inactive")


async def test_unknown_frames_before_the_subscription_are_ignored(org, ws_url):
    async with connect(ws_url("/live")) as ws:
        await recv(ws)
        # Some clients authenticate first; text that is not JSON; binary; not objects.
        await ws.send(json.dumps({"type": "auth", "api_key": ORG_KEY}))
        await ws.send("hello")
        await ws.send(b"\x00\x01")
        await ws.send("[1, 2]")
        await ws.send(json.dumps({"subscriptions": [minute(BTC)]}))

        await subscribe(ws, ORG_KEY, [minute(BTC)])

        assert await recv_json(ws) == {"message": "Connected to SANDBOX:LOCAL"}
        assert (await recv_json(ws))["code"] == BTC


async def test_no_valid_first_message_in_time_closes_with_1008(org, ws_url):
    # given
    configure(org, auth_timeout_seconds=0.3)
    async with connect(ws_url("/live")) as ws:
        await recv(ws)
        started = time.monotonic()

        # when: only frames that do not authenticate
        await ws.send(json.dumps({"type": "auth", "api_key": ORG_KEY}))

        # then
        assert await recv_json(ws) == {"message": "Authentication timeout"}
        assert await closed(ws) == (1008, "authentication timeout")
        assert 0.2 < time.monotonic() - started < 2


# --- keeping the connection -----------------------------------------------------------


async def test_ping_is_answered_pong_and_heartbeats_come_on_time(org, ws_url):
    # given
    configure(org, heartbeat_seconds=0.2)
    ws = await open_live(ws_url("/live"), ORG_KEY, [{"code": BTC, "type": "quote"}])

    # when
    await ws.send("ping")
    pinged = await ws.ping()  # a protocol ping too
    frames = await frames_for(ws, 0.7)

    # then
    assert "pong" in frames
    assert pinged.done()
    beats = [json.loads(f) for f in frames if f.startswith('{"server_time"')]
    assert 2 <= len(beats) <= 4
    assert all(list(beat) == ["server_time"] for beat in beats)
    assert abs(beats[-1]["server_time"] - time.time() * 1000) < 1_000
    await ws.close()


# --- subscriptions --------------------------------------------------------------------


async def test_each_subscription_message_replaces_the_whole_set(org, ws_url):
    # given
    configure(org, updates_per_second=50)
    ws = await open_live(ws_url("/live"), ORG_KEY, [minute(BTC)])
    assert (await recv_json(ws))["code"] == BTC

    # when: BTC replaced by ETH and AAPL quotes
    await subscribe(
        ws, ORG_KEY, [minute(ETH), {"code": "NASDAQ:AAPL", "type": "quote"}]
    )
    history = await next_where(ws, lambda m: m.get("code") == ETH)
    await frames_for(ws, 0.1)  # BTC frames already on the way
    frames = [json.loads(f) for f in await frames_for(ws, 0.3)]

    # then
    assert len(history["series"]) == 100
    assert frames and all(f.get("code") != BTC for f in frames)
    assert any(f.get("code") == ETH for f in frames)
    assert any(f.get("data", [{}])[0].get("code") == "NASDAQ:AAPL" for f in frames)
    assert live_state(org)["streams"] == 2

    # when: ETH kept, AAPL dropped: ETH keeps flowing without a new history
    await subscribe(ws, ORG_KEY, [minute(ETH)])
    await frames_for(ws, 0.1)
    frames = [json.loads(f) for f in await frames_for(ws, 0.3)]
    assert frames and all(len(f["series"]) == 1 for f in frames)
    assert live_state(org)["streams"] == 1
    await ws.close()


NOT_AN_ARRAY = "Subscriptions must be a non-empty array"
NO_CODE = "Each subscription must be an object with a 'code'"
BAD_INTERVAL = "Invalid bar_interval: must be an integer between 1 and 1000"
BAD_BAR_TYPE = (
    "Invalid bar_type: must be one of tick, second, minute, hour, day, week, month"
)
REFUSALS = [
    ([], NOT_AN_ARRAY),
    ("NASDAQ:AAPL", NOT_AN_ARRAY),
    (["NASDAQ:AAPL"], NO_CODE),
    ([{"type": "quote"}], NO_CODE),
    ([{"code": "NOPE:NOPE"}], "Invalid Symbol Code"),
    (
        [minute(BTC), {"code": ETH, "type": "x"}],
        "Invalid type: must be series or quote",
    ),
    ([{"code": BTC, "bar_type": "fortnight"}], BAD_BAR_TYPE),
    ([minute(BTC, bar_interval=0)], BAD_INTERVAL),
    ([minute(BTC, bar_interval=1001)], BAD_INTERVAL),
    ([minute(BTC, bar_interval="5")], BAD_INTERVAL),
    ([minute(BTC, extended="maybe")], "Invalid extended: must be true or false"),
    ([{"code": BTC, "bar_type": "tick"}], "Tick data not in plan"),
    ([minute(BTC, max_bars=True)], "max_bars not in plan"),
    (
        [minute(BTC), minute(ETH), minute(ETH, bar_interval=5)],
        "Subscription limit exceeded: 2 allowed",
    ),
]


async def test_a_bad_subscription_message_is_refused_whole_and_nothing_changes(
    org, ws_url
):
    # given: a pro member (2 subscriptions, no tick data) streaming AAPL
    key = member_key(org, "carol", "pro")
    configure(org, updates_per_second=20)
    ws = await open_live(ws_url("/live"), key, [minute("NASDAQ:AAPL")])
    await recv_json(ws)
    before = live_state(org)["connections"][0]["subscriptions"]

    for subscriptions, message in REFUSALS:
        # when
        await subscribe(ws, key, subscriptions)

        # then
        answer = await refused(ws, message)
        if message == "Invalid Symbol Code":
            assert answer == {"message": message, "symbol": "NOPE:NOPE"}
    await ws.send(json.dumps({"subscriptions": [minute(BTC)]}))
    await refused(ws, "api_key is required in every subscription message")
    await subscribe(ws, ORG_KEY, [minute(BTC)])
    await refused(ws, "api_key does not match this connection")

    assert live_state(org)["connections"][0]["subscriptions"] == before
    assert live_state(org)["streams"] == 1
    await next_where(ws, is_update("NASDAQ:AAPL"))
    await ws.close()


async def test_ten_quote_codes_count_as_one_subscription(org, ws_url):
    # given: a pro member: 2 subscriptions
    key = member_key(org, "dave", "pro")
    ten = [s.code for s in searchable()][:10]
    eleven = [s.code for s in searchable()][:11]
    assert len(eleven) == 11
    quotes = [{"code": code, "type": "quote"} for code in eleven]
    ws = await open_live(ws_url("/live"), key, [minute(BTC)])
    await recv_json(ws)

    # then: a series and 10 quote codes fit; a series and 11 do not; 11 quotes alone do
    await subscribe(ws, key, [minute(BTC), *quotes[:10]])
    first = await next_where(ws, lambda m: "data" in m)
    assert first["total_items"] == 10
    assert [row["code"] for row in first["data"]] == sorted(ten)
    await subscribe(ws, key, [minute(BTC), *quotes])
    await refused(ws, "Subscription limit exceeded: 2 allowed")
    await subscribe(ws, key, quotes)
    totals = set()
    while len(totals) < 2:
        totals.add((await next_where(ws, lambda m: "data" in m))["total_items"])
    assert totals == {10, 1}
    assert live_state(org)["streams"] == 2
    await ws.close()


async def test_quote_messages_match_the_rest_quotes(org, ws_url):
    # given
    key = member_key(org, "erin", "mega")
    codes = ["NASDAQ:AAPL", BTC]
    rest = httpx.Client(
        base_url=org.base_url, headers={"Authorization": f"Bearer {key}"}
    )
    for _ in range(5):
        # when
        ws = await open_live(
            ws_url("/live"), key, [{"code": code, "type": "quote"} for code in codes]
        )
        message = await recv_json(ws)
        answer = rest.get("/v3/symbols/quotes", params={"codes": ",".join(codes)})
        await ws.close()
        if message["last_update"] // 1000 == answer.json()["last_update"] // 1000:
            break
    rest.close()

    # then
    assert list(message) == ["last_update", "total_items", "data"]
    assert message["total_items"] == 2
    assert all(set(row) == set(QUOTE_KEYS) for row in message["data"])
    by_code = {row["code"]: row for row in answer.json()["data"]}
    assert message["data"] == [by_code[code] for code in sorted(codes)]


async def test_connections_per_key_are_limited_on_live_only(org, ws_url):
    # given: a pro member may hold 1 connection
    key = member_key(org, "frank", "pro")
    first = await open_live(ws_url("/live"), key, [minute(BTC)])

    # when
    async with connect(ws_url("/live")) as second:
        await recv(second)
        await subscribe(second, key, [minute(BTC)])

        # then
        assert await recv_json(second) == {
            "message": "Connection limit exceeded: 1 allowed"
        }
        assert await closed(second) == (1008, "connection limit exceeded")

    # a news feed does not count; a closed connection frees its place
    async with connect(ws_url("/newsfeed")) as news:
        await recv(news)
        await news.send(json.dumps({"api_key": key}))
        assert await recv_json(news) == {"message": "Connected to SANDBOX:LOCAL"}
    await first.close()
    for _ in range(50):
        if not live_state(org)["connections"]:
            break
        await asyncio.sleep(0.02)
    again = await open_live(ws_url("/live"), key, [minute(BTC)])
    await again.close()


async def test_the_org_key_has_its_own_limits(org, ws_url):
    # given
    configure(org, org_ws_connections=2, org_ws_symbols=3)
    first = await open_live(
        ws_url("/live"), ORG_KEY, [{"code": BTC, "bar_type": "tick"}]
    )
    second = await open_live(
        ws_url("/live"),
        ORG_KEY,
        [{"code": BTC, "bar_type": "tick", "max_bars": True}],
        max_size=None,
    )
    assert len((await recv_json(second, 10))["series"]) == 30_000

    # then
    async with connect(ws_url("/live")) as third:
        await recv(third)
        await subscribe(third, ORG_KEY, [minute(BTC)])
        assert await recv_json(third) == {
            "message": "Connection limit exceeded: 2 allowed"
        }
    await subscribe(
        first, ORG_KEY, [minute(c) for c in (BTC, ETH, "FX:EURUSD", "NASDAQ:AAPL")]
    )
    await refused(first, "Subscription limit exceeded: 3 allowed")
    await first.close()
    await second.close()


async def test_subscription_messages_over_the_rate_are_ignored_data_flows(org, ws_url):
    # given: 3 messages per 0.8 s (upstream: 300 per 5 minutes)
    configure(
        org,
        subscription_rate_limit=3,
        subscription_rate_window_seconds=0.8,
        updates_per_second=20,
    )
    ws = await open_live(ws_url("/live"), ORG_KEY, [minute(BTC)])
    await subscribe(ws, ORG_KEY, [minute(BTC)])
    await subscribe(ws, ORG_KEY, [minute(BTC)])

    # when
    await subscribe(ws, ORG_KEY, [minute(ETH)])

    # then
    await refused(ws, "Rate limit exceeded: 3 subscription messages per 0.8 seconds")
    await next_where(ws, is_update(BTC))
    await asyncio.sleep(0.9)
    await subscribe(ws, ORG_KEY, [minute(ETH)])
    assert len((await next_where(ws, lambda m: m.get("code") == ETH))["series"]) == 100
    await ws.close()


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
    keys = {plan: member_key(org, f"{plan}-member", plan) for plan in ("pro", "mega")}
    for plan, options, bars in HISTORY_SIZES:
        ws = await open_live(
            ws_url("/live"), keys[plan], [minute(ETH, **options)], max_size=None
        )
        history = await recv_json(ws, 10)
        assert len(history["series"]) == bars, (plan, options)
        times = [row["time"] for row in history["series"]]
        assert times == sorted(set(times))
        await ws.close()


async def test_history_equals_the_rest_series_at_the_same_second(org, ws_url):
    # given
    key = member_key(org, "gina", "mega")
    rest = httpx.Client(
        base_url=org.base_url, headers={"Authorization": f"Bearer {key}"}
    )
    params = {"bar_type": "minute", "bar_interval": 5, "data_points": 100}
    for _ in range(5):
        # when
        second = int(time.time())
        ws = await open_live(ws_url("/live"), key, [minute(BTC, bar_interval=5)])
        history = await recv_json(ws)
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
    ws = await open_live(ws_url("/live"), ORG_KEY, [minute(BTC), minute(ETH)])
    await recv_json(ws)
    await recv_json(ws)

    # when: the rate is raised while connected
    configure(org, updates_per_second=200)
    await frames_for(ws, 0.2)
    received = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        message = await recv_json(ws)
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
    ws = await open_live(ws_url("/live"), ORG_KEY, subscriptions)

    histories = [await recv_json(ws) for _ in sizes]

    assert [h["bar_type"] for h in histories] == [label for *_, label in sizes]
    assert all(1 <= len(h["series"]) <= 100 for h in histories)
    assert len(histories[0]["series"]) == 100
    await ws.close()


@pytest.mark.parametrize("phases", ["spread", "aligned"])
async def test_streams_tick_at_their_own_phase_unless_aligned(org, ws_url, phases):
    # given: three streams at 20 updates/s
    configure(org, updates_per_second=20, phases=phases)
    codes = (BTC, ETH, "FX:EURUSD")
    ws = await open_live(ws_url("/live"), ORG_KEY, [minute(code) for code in codes])
    await frames_for(ws, 0.3)  # the histories

    # when
    frames = [json.loads(f) for f in await frames_for(ws, 1.0)]

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
    configure(org, updates_per_second=100)
    codes = (BTC, ETH, "FX:EURUSD")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((sandbox.host, sandbox.port))
    slow = await connect(ws_url("/live"), sock=sock, max_queue=1, max_size=None)
    await subscribe(slow, ORG_KEY, [minute(code, max_bars=True) for code in codes])
    fast = await open_live(ws_url("/live"), ORG_KEY, [minute(code) for code in codes])

    # when
    for _ in range(200):
        listed = live_state(org)["connections"]
        if any(c["dropped"] for c in listed):
            break
        await asyncio.sleep(0.05)
    await frames_for(fast, 0.1)
    frames = await frames_for(fast, 0.5)

    # then: the slow one drops, the other keeps its rate
    dropped = sorted(c["dropped"] for c in live_state(org)["connections"])
    assert dropped[0] == 0 and dropped[1] > 0
    assert len(frames) >= 100
    slow.transport.abort()
    await fast.close()


async def test_tick_subscriptions_send_trades(org, ws_url):
    key = member_key(org, "hank", "mega")
    configure(org, updates_per_second=20)
    ws = await open_live(ws_url("/live"), key, [{"code": BTC, "bar_type": "tick"}])
    history = await recv_json(ws)
    update = await next_where(ws, is_update(BTC))

    assert history["bar_type"] == update["bar_type"] == "tick"
    assert len(history["series"]) == 100
    trade = update["series"][0]
    assert trade["open"] == trade["high"] == trade["low"] == trade["close"]
    assert update["bar_end"] == trade["time"] >= history["series"][-1]["time"]
    await ws.close()


# --- news feed ------------------------------------------------------------------------


async def test_the_newsfeed_sends_the_ten_latest_then_new_items(org, ws_url):
    # given
    key = member_key(org, "ivy", "pro")
    rest = httpx.get(
        f"{org.base_url}/v3/newsfeed",
        params={"limit": 10},
        headers={"Authorization": f"Bearer {key}"},
    ).json()["data"]
    async with connect(ws_url("/newsfeed"), max_queue=None) as ws:
        assert await recv_json(ws) == {"message": "Connecting..."}
        await ws.send(json.dumps({"api_key": key}))
        assert await recv_json(ws) == {"message": "Connected to SANDBOX:LOCAL"}

        # when
        latest = [await recv_json(ws) for _ in range(10)]
        configure(org, news_every_seconds=0.05)
        fresh = [await recv_json(ws) for _ in range(8)]

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
    key = member_key(org, "jack", "quiet")

    async with connect(ws_url("/newsfeed")) as ws:
        await recv(ws)
        await ws.send(json.dumps({"api_key": key}))

        assert await recv_json(ws) == {"message": "News feed not in plan"}
        assert await closed(ws) == (1008, "news feed not in plan")


# --- faults ---------------------------------------------------------------------------


async def test_refused_upgrades_answer_503_for_the_set_time(org, ws_url):
    configure(org, refuse_seconds=0.4)
    assert 0 < live_state(org)["config"]["refuse_seconds"] <= 0.4

    with pytest.raises(InvalidStatus) as refusal:
        await connect(ws_url("/live"))
    assert refusal.value.response.status_code == 503

    await asyncio.sleep(0.5)
    ws = await open_live(ws_url("/live"), ORG_KEY, [minute(BTC)])
    await ws.close()


async def test_a_stall_sends_nothing_then_everything_resumes(org, ws_url):
    # given
    configure(org, updates_per_second=20, heartbeat_seconds=0.1)
    ws = await open_live(ws_url("/live"), ORG_KEY, [minute(BTC)])
    await next_where(ws, is_update(BTC))

    # when
    configure(org, stall_seconds=0.6)
    await frames_for(ws, 0.05)  # sent before the stall
    await ws.send("ping")
    pinged = await ws.ping()
    during = await frames_for(ws, 0.45)

    # then
    assert during == []
    assert not pinged.done()
    after = await frames_for(ws, 0.5)
    assert any('"server_time"' in f for f in after)
    assert any(f'"code":"{BTC}"' in f for f in after)
    await ws.send("ping")
    assert "pong" in await frames_for(ws, 0.2)
    await ws.close()


async def test_garbage_frames_replace_the_set_share_of_data(org, ws_url):
    # given
    configure(org, updates_per_second=50, garbage_rate=1)
    ws = await open_live(ws_url("/live"), ORG_KEY, [minute(BTC)])

    # when
    await ws.send("ping")
    frames = await frames_for(ws, 0.3)
    configure(org, garbage_rate=0)
    await frames_for(ws, 0.1)
    clean = await frames_for(ws, 0.2)

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
    live = await open_live(ws_url("/live"), ORG_KEY, [minute(BTC)])
    news = await connect(ws_url("/newsfeed"))
    await recv(news)

    configure(org, drop=True)

    assert await closed(live) == (None, None)
    assert await closed(news) == (None, None)
    await asyncio.sleep(0.05)
    assert live_state(org)["connections"] == []


async def test_close_error_says_why_then_closes_with_1011(org, ws_url):
    ws = await open_live(ws_url("/live"), ORG_KEY, [minute(BTC)])

    configure(org, close_error="maintenance")

    assert await next_where(ws, is_status) == {"message": "maintenance"}
    assert await closed(ws) == (1011, "maintenance")


async def test_stopping_the_server_closes_its_websockets_promptly():
    server = SandboxServer(org_key=ORG_KEY).start()
    url = server.url.replace("http://", "ws://") + "/live"
    ws = await open_live(url, ORG_KEY, [minute(BTC)])

    started = time.monotonic()
    await asyncio.to_thread(server.stop)

    assert time.monotonic() - started < 1.5
    assert (await closed(ws))[0] == 1001


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
    assert live_state(org)["config"]["updates_per_second"] == 1.0


def test_the_control_api_shows_and_reset_restores_the_defaults(org):
    defaults = live_state(org)
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

    changed = configure(
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
    assert live_state(org) == defaults
