"""The user-level topics: `watchlist` (edits pushed as they happen) and `news` (all
news, or filtered by symbols and topics)."""

import datetime as dt

import pytest

from tests.sandbox.aries.conftest import (
    configure,
    is_event,
    new_user,
    next_where,
    open_session,
    set_price,
    subscribe,
)
from tests.sandbox.helpers import frames_for


def edit(control, user_id, action, symbol, **extra):
    return control.post(
        "/_sandbox/aries/watchlists",
        json={"user_id": user_id, "action": action, "symbol": symbol, **extra},
    )


def publish(control, headline, symbols=(), topics=()):
    response = control.post(
        "/_sandbox/aries/news",
        json={"headline": headline, "symbols": list(symbols), "topics": list(topics)},
    )
    assert response.status_code == 200, response.text
    return response.json()["item"]


# --- watchlist ----------------------------------------------------------------------


async def test_watchlist_edits_are_pushed_to_the_user(control, ws_url):
    # given
    user = new_user(control)
    set_price(control, "TSLA", "242.50")
    ws = await open_session(ws_url, user["access_token"])
    reply = await subscribe(ws, "watchlist", request_id="req-004")

    # when
    added = edit(control, user["user_id"], "add", "TSLA")
    first = await next_where(ws, is_event("watchlist"))
    edit(control, user["user_id"], "update", "NYSE:TSLA")
    second = await next_where(ws, is_event("watchlist"))
    edit(control, user["user_id"], "remove", "TSLA")
    third = await next_where(ws, is_event("watchlist"))

    # then
    assert reply["type"] == "subscribed" and reply["id"] == "req-004"
    assert reply["payload"]["topic"] == "watchlist"
    assert added.status_code == 200
    data = first["payload"]["data"]
    assert list(first["payload"]) == ["topic", "data"]
    assert data["id"] == "WL-001" and data["symbol"] == "TSLA"
    assert data["name"] == "Tesla, Inc." and data["lastPrice"] == "242.50"
    assert data["change"][0] in "+-" and data["changePercent"][0] in "+-"
    assert [m["payload"]["data"]["action"] for m in (first, second, third)] == [
        "add",
        "update",
        "remove",
    ]
    assert added.json()["watchlists"] == {"WL-001": ["TSLA"]}
    await ws.close()


async def test_watchlist_events_reach_only_their_user(control, ws_url):
    alice, bob = new_user(control), new_user(control)
    ws = await open_session(ws_url, alice["access_token"])
    await subscribe(ws, "watchlist")

    edit(control, bob["user_id"], "add", "AAPL")
    edit(control, alice["user_id"], "add", "MSFT", watchlist_id="WL-TECH")
    event = await next_where(ws, is_event("watchlist"))

    assert (event["payload"]["data"]["symbol"], event["payload"]["data"]["id"]) == (
        "MSFT",
        "WL-TECH",
    )
    assert await frames_for(ws, 0.2) == []
    await ws.close()


def test_updating_or_removing_an_unlisted_symbol_is_not_found(control):
    user = new_user(control)

    for action in ("update", "remove"):
        response = edit(control, user["user_id"], action, "AAPL")
        assert response.status_code == 404
        assert response.json()["code"] == "SYMBOL_NOT_LISTED"


# --- news ---------------------------------------------------------------------------


@pytest.fixture
def quiet(control):
    """Only the news a test publishes."""
    configure(control, synth_news=False)


async def test_news_filters_by_symbols_and_topics(control, ws_url, quiet):
    # given
    user = new_user(control)
    filtered = await open_session(ws_url, user["access_token"])
    firehose = await open_session(ws_url, user["access_token"])
    reply = await subscribe(
        filtered,
        "news",
        {"symbols": ["AAPL", "TSLA"], "topics": ["earnings"]},
        "req-005",
    )
    await subscribe(firehose, "news")

    # when
    wanted = publish(control, "Apple beats", ["AAPL", "QQQ"], ["earnings"])
    publish(control, "Apple moves", ["AAPL"], ["markets"])
    publish(control, "Microsoft beats", ["MSFT"], ["earnings"])
    last = publish(control, "Tesla beats", ["NYSE:TSLA"], ["Earnings"])

    # then
    assert reply["payload"]["params"] == {
        "symbols": ["AAPL", "TSLA"],
        "topics": ["earnings"],
    }
    got = [await next_where(filtered, is_event("news")) for _ in range(2)]
    assert [m["payload"]["data"]["items"][0]["id"] for m in got] == [
        wanted["id"],
        last["id"],
    ]
    message = got[0]["payload"]
    assert message["data"]["msgType"] == "add"
    item = message["data"]["items"][0]
    assert set(item) >= {
        "id",
        "headline",
        "summary",
        "source",
        "publishedAt",
        "symbols",
    }
    assert item["symbols"] == ["AAPL", "QQQ"]
    everything = [await next_where(firehose, is_event("news")) for _ in range(4)]
    assert [m["payload"]["data"]["items"][0]["headline"] for m in everything] == [
        "Apple beats",
        "Apple moves",
        "Microsoft beats",
        "Tesla beats",
    ]
    assert await frames_for(filtered, 0.2) == []
    await filtered.close()
    await firehose.close()


async def test_resubscribing_to_news_replaces_the_filter(control, ws_url, quiet):
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])
    await subscribe(ws, "news", {"symbols": ["AAPL"]}, "a")
    await subscribe(ws, "news", {"symbols": ["MSFT"]}, "b")

    publish(control, "Apple", ["AAPL"])
    publish(control, "Microsoft", ["MSFT"])
    event = await next_where(ws, is_event("news"))

    assert event["payload"]["data"]["items"][0]["headline"] == "Microsoft"
    await ws.close()


async def test_synth_stories_arrive_as_they_are_published(
    control, ws_url, fast, frozen
):
    # given
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])
    await subscribe(ws, "news")
    await frames_for(ws, 0.1)  # the ticker has taken its mark

    # when: an hour passes (synth publishes a story every seven minutes or so)
    frozen.advance(dt.timedelta(hours=1))
    event = await next_where(ws, is_event("news"), timeout=3)

    # then
    item = event["payload"]["data"]["items"][0]
    assert item["id"].startswith("synth-")
    assert item["symbols"] and ":" not in item["symbols"][0]
    assert item["topics"]
    await ws.close()
