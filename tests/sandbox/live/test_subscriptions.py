"""The simulated market data WebSockets (`/live`, `/newsfeed`), driven like a client of
the real upstream: members come from the Organization API and connect with their
upstream key. What a subscription message may ask and
the limits on connections and subscriptions."""

import asyncio
import json

import httpx
from websockets.asyncio.client import connect

from sandbox.synth.catalogue import searchable
from tests.conftest import ORG_KEY
from tests.sandbox import helpers as client
from tests.sandbox.live import helpers as live
from tests.sandbox.live.helpers import BTC, ETH
from tests.sandbox.market.helpers import QUOTE_KEYS

# --- subscriptions --------------------------------------------------------------------


async def test_each_subscription_message_replaces_the_whole_set(org, ws_url):
    # given
    live.configure(org, updates_per_second=50)
    ws = await live.open_live(ws_url("/live"), ORG_KEY, [live.minute(BTC)])
    assert (await client.recv_json(ws))["code"] == BTC

    # when: BTC replaced by ETH and AAPL quotes
    await live.subscribe(
        ws, ORG_KEY, [live.minute(ETH), {"code": "NASDAQ:AAPL", "type": "quote"}]
    )
    history = await live.next_where(ws, lambda m: m.get("code") == ETH)
    await client.frames_for(ws, 0.1)  # BTC frames already on the way
    frames = [json.loads(f) for f in await client.frames_for(ws, 0.3)]

    # then
    assert len(history["series"]) == 100
    assert frames and all(f.get("code") != BTC for f in frames)
    assert any(f.get("code") == ETH for f in frames)
    assert any(f.get("data", [{}])[0].get("code") == "NASDAQ:AAPL" for f in frames)
    assert live.live_state(org)["streams"] == 2

    # when: ETH kept, AAPL dropped: ETH keeps flowing without a new history
    await live.subscribe(ws, ORG_KEY, [live.minute(ETH)])
    await client.frames_for(ws, 0.1)
    frames = [json.loads(f) for f in await client.frames_for(ws, 0.3)]
    assert frames and all(len(f["series"]) == 1 for f in frames)
    assert live.live_state(org)["streams"] == 1
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
        [live.minute(BTC), {"code": ETH, "type": "x"}],
        "Invalid type: must be series or quote",
    ),
    ([{"code": BTC, "bar_type": "fortnight"}], BAD_BAR_TYPE),
    ([live.minute(BTC, bar_interval=0)], BAD_INTERVAL),
    ([live.minute(BTC, bar_interval=1001)], BAD_INTERVAL),
    ([live.minute(BTC, bar_interval="5")], BAD_INTERVAL),
    ([live.minute(BTC, extended="maybe")], "Invalid extended: must be true or false"),
    ([{"code": BTC, "bar_type": "tick"}], "Tick data not in plan"),
    ([live.minute(BTC, max_bars=True)], "max_bars not in plan"),
    (
        [live.minute(BTC), live.minute(ETH), live.minute(ETH, bar_interval=5)],
        "Subscription limit exceeded: 2 allowed",
    ),
]


async def test_a_bad_subscription_message_is_refused_whole_and_nothing_changes(
    org, ws_url
):
    # given: a pro member (2 subscriptions, no tick data) streaming AAPL
    key = client.member_key(org, "carol", "pro")
    live.configure(org, updates_per_second=20)
    ws = await live.open_live(ws_url("/live"), key, [live.minute("NASDAQ:AAPL")])
    await client.recv_json(ws)
    before = live.live_state(org)["connections"][0]["subscriptions"]

    for subscriptions, message in REFUSALS:
        # when
        await live.subscribe(ws, key, subscriptions)

        # then
        answer = await live.refused(ws, message)
        if message == "Invalid Symbol Code":
            assert answer == {"message": message, "symbol": "NOPE:NOPE"}
    await ws.send(json.dumps({"subscriptions": [live.minute(BTC)]}))
    await live.refused(ws, "api_key is required in every subscription message")
    await live.subscribe(ws, ORG_KEY, [live.minute(BTC)])
    await live.refused(ws, "api_key does not match this connection")

    assert live.live_state(org)["connections"][0]["subscriptions"] == before
    assert live.live_state(org)["streams"] == 1
    await live.next_where(ws, live.is_update("NASDAQ:AAPL"))
    await ws.close()


async def test_ten_quote_codes_count_as_one_subscription(org, ws_url):
    # given: a pro member: 2 subscriptions
    key = client.member_key(org, "dave", "pro")
    ten = [s.code for s in searchable()][:10]
    eleven = [s.code for s in searchable()][:11]
    assert len(eleven) == 11
    quotes = [{"code": code, "type": "quote"} for code in eleven]
    ws = await live.open_live(ws_url("/live"), key, [live.minute(BTC)])
    await client.recv_json(ws)

    # then: a series and 10 quote codes fit; a series and 11 do not; 11 quotes alone do
    await live.subscribe(ws, key, [live.minute(BTC), *quotes[:10]])
    first = await live.next_where(ws, lambda m: "data" in m)
    assert first["total_items"] == 10
    assert [row["code"] for row in first["data"]] == sorted(ten)
    await live.subscribe(ws, key, [live.minute(BTC), *quotes])
    await live.refused(ws, "Subscription limit exceeded: 2 allowed")
    await live.subscribe(ws, key, quotes)
    totals = set()
    while len(totals) < 2:
        totals.add((await live.next_where(ws, lambda m: "data" in m))["total_items"])
    assert totals == {10, 1}
    assert live.live_state(org)["streams"] == 2
    await ws.close()


async def test_quote_messages_match_the_rest_quotes(org, ws_url):
    # given
    key = client.member_key(org, "erin", "mega")
    codes = ["NASDAQ:AAPL", BTC]
    rest = httpx.Client(
        base_url=org.base_url, headers={"Authorization": f"Bearer {key}"}
    )
    for _ in range(5):
        # when
        ws = await live.open_live(
            ws_url("/live"), key, [{"code": code, "type": "quote"} for code in codes]
        )
        message = await client.recv_json(ws)
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
    key = client.member_key(org, "frank", "pro")
    first = await live.open_live(ws_url("/live"), key, [live.minute(BTC)])

    # when
    async with connect(ws_url("/live")) as second:
        await client.recv(second)
        await live.subscribe(second, key, [live.minute(BTC)])

        # then
        assert await client.recv_json(second) == {
            "message": "Connection limit exceeded: 1 allowed"
        }
        assert await client.closed(second) == (1008, "connection limit exceeded")

    # a news feed does not count; a closed connection frees its place
    async with connect(ws_url("/newsfeed")) as news:
        await client.recv(news)
        await news.send(json.dumps({"api_key": key}))
        assert await client.recv_json(news) == {"message": "Connected to SANDBOX:LOCAL"}
    await first.close()
    for _ in range(50):
        if not live.live_state(org)["connections"]:
            break
        await asyncio.sleep(0.02)
    again = await live.open_live(ws_url("/live"), key, [live.minute(BTC)])
    await again.close()


async def test_the_org_key_has_its_own_limits(org, ws_url):
    # given
    live.configure(org, org_ws_connections=2, org_ws_symbols=3)
    first = await live.open_live(
        ws_url("/live"), ORG_KEY, [{"code": BTC, "bar_type": "tick"}]
    )
    second = await live.open_live(
        ws_url("/live"),
        ORG_KEY,
        [{"code": BTC, "bar_type": "tick", "max_bars": True}],
        max_size=None,
    )
    assert len((await client.recv_json(second, 10))["series"]) == 30_000

    # then
    async with connect(ws_url("/live")) as third:
        await client.recv(third)
        await live.subscribe(third, ORG_KEY, [live.minute(BTC)])
        assert await client.recv_json(third) == {
            "message": "Connection limit exceeded: 2 allowed"
        }
    await live.subscribe(
        first, ORG_KEY, [live.minute(c) for c in (BTC, ETH, "FX:EURUSD", "NASDAQ:AAPL")]
    )
    await live.refused(first, "Subscription limit exceeded: 3 allowed")
    await first.close()
    await second.close()


async def test_subscription_messages_over_the_rate_are_ignored_data_flows(org, ws_url):
    # given: 3 messages per 0.8 s (upstream: 300 per 5 minutes)
    live.configure(
        org,
        subscription_rate_limit=3,
        subscription_rate_window_seconds=0.8,
        updates_per_second=20,
    )
    ws = await live.open_live(ws_url("/live"), ORG_KEY, [live.minute(BTC)])
    await live.subscribe(ws, ORG_KEY, [live.minute(BTC)])
    await live.subscribe(ws, ORG_KEY, [live.minute(BTC)])

    # when
    await live.subscribe(ws, ORG_KEY, [live.minute(ETH)])

    # then
    await live.refused(
        ws, "Rate limit exceeded: 3 subscription messages per 0.8 seconds"
    )
    await live.next_where(ws, live.is_update(BTC))
    await asyncio.sleep(0.9)
    await live.subscribe(ws, ORG_KEY, [live.minute(ETH)])
    assert (
        len((await live.next_where(ws, lambda m: m.get("code") == ETH))["series"])
        == 100
    )
    await ws.close()
