"""The accounts WebSocket's messages after authentication: the doc's examples as
written, ping/pong, every error response, unsubscribing, and frames a client should
never send."""

import asyncio
import json
import random

import pytest
from websockets.asyncio.client import connect

from tests.sandbox.aries.conftest import (
    new_user,
    next_where,
    open_session,
    overview,
    place,
    send,
    subscribe,
    watch_account,
)
from tests.sandbox.helpers import frames_for, recv_json

# --- the doc's examples, as written -------------------------------------------------

DOC_AUTH = """{
  "type": "request",
  "id": "auth-001",
  "payload": {
    "method": "post",
    "path": "/auth",
    "body": {
      "token": "YOUR_ACCESS_TOKEN"
    }
  }
}"""
DOC_SUBSCRIBE_ACCOUNT = """{
  "type": "subscribe",
  "id": "req-002",
  "payload": {
    "topic": "account",
    "params": {
      "accountId": "ACC123456"
    }
  }
}"""
DOC_SUBSCRIBE_PNL = """{
  "type": "subscribe",
  "id": "req-003",
  "payload": {
    "topic": "pnl",
    "params": {
      "accountId": "ACC123456",
      "interval": "1m",
      "startTime": "2024-01-01T00:00:00Z"
    }
  }
}"""
DOC_SUBSCRIBE_WATCHLIST = """{
  "type": "subscribe",
  "id": "req-004",
  "payload": {
    "topic": "watchlist"
  }
}"""
DOC_SUBSCRIBE_NEWS = """{
  "type": "subscribe",
  "id": "req-005",
  "payload": {
    "topic": "news",
    "params": {
      "symbols": ["AAPL", "TSLA"],
      "topics": ["earnings"]
    }
  }
}"""
DOC_UNSUBSCRIBE = """{
  "type": "unsubscribe",
  "id": "req-007",
  "payload": {
    "topic": "account",
    "params": {
      "accountId": "ACC123456"
    }
  }
}"""
DOC_PING = """{
  "type": "ping",
  "id": "ping-001"
}"""


async def test_the_docs_examples_work_as_written(control, ws_url):
    # given: the doc's token and account id swapped for a sandbox user's
    user = new_user(control)
    account_id = user["account_ids"][0]

    def doc(text: str) -> str:
        return text.replace("YOUR_ACCESS_TOKEN", user["access_token"]).replace(
            "ACC123456", account_id
        )

    # when
    async with connect(ws_url) as ws:
        replies = []
        for example in (
            DOC_AUTH,
            DOC_SUBSCRIBE_ACCOUNT,
            DOC_SUBSCRIBE_PNL,
            DOC_SUBSCRIBE_WATCHLIST,
            DOC_SUBSCRIBE_NEWS,
            DOC_UNSUBSCRIBE,
            DOC_PING,
        ):
            await ws.send(doc(example))
            replies.append(await recv_json(ws))

    # then
    auth, account, pnl, watchlist, news, unsubscribed, pong = replies
    assert auth["payload"]["action"] == "authSuccess"
    assert auth["payload"]["id"] == "auth-001"
    assert [m["type"] for m in (account, pnl, watchlist, news)] == ["subscribed"] * 4
    assert [m["id"] for m in (account, pnl, watchlist, news)] == [
        "req-002",
        "req-003",
        "req-004",
        "req-005",
    ]
    assert [m["payload"]["topic"] for m in (account, pnl, watchlist, news)] == [
        "account",
        "pnl",
        "watchlist",
        "news",
    ]
    assert set(account["payload"]["data"]) == {
        "account",
        "positions",
        "orders",
        "ordersV2",
    }
    assert pnl["payload"]["data"]["c"] == ["100000.00"]
    assert unsubscribed["payload"]["data"] == {
        "unsubscribed": True,
        "topic": "account",
        "accountId": account_id,
    }
    assert pong["type"] == "pong" and pong["id"] == "ping-001"


# --- ping, errors, garbage ----------------------------------------------------------


async def test_ping_is_answered_pong_with_the_same_id_even_before_auth(ws_url):
    async with connect(ws_url) as ws:
        for ident in ("ping-001", 42, "x" * 50):
            await send(ws, {"type": "ping", "id": ident})
            pong = await recv_json(ws)
            assert pong["type"] == "pong" and pong["id"] == ident
            assert pong["timestamp"].endswith("Z")


async def test_pongs_come_back_in_order_under_many_pings(control, ws_url):
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])

    for i in range(50):
        await send(ws, {"type": "ping", "id": f"p{i}"})
    pongs = [await recv_json(ws) for _ in range(50)]

    assert [p["id"] for p in pongs] == [f"p{i}" for i in range(50)]
    await ws.close()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        "null",
        "42",
        '{"type": "wat", "id": "z"}',
        '{"no": "type"}',
        b"\x00\x01binary",
        '{"type": "request"}',
        '{"type": "subscribe", "payload": "nope"}',
        '{"type": "ping"}',
        "{" * 10_000,
    ],
)
async def test_garbage_frames_never_break_the_connection(control, ws_url, frame):
    # given
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])

    # when
    await ws.send(frame)
    await send(ws, {"type": "ping", "id": "after"})

    # then
    pong = await next_where(
        ws, lambda m: m.get("type") == "pong" and m["id"] == "after"
    )
    assert pong["id"] == "after"
    await ws.close()


async def test_a_subscribe_with_a_broken_payload_is_unknown_topic(control, ws_url):
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])

    await send(ws, {"type": "subscribe", "id": "s", "payload": "nope"})
    answer = await recv_json(ws)

    assert answer["payload"]["code"] == "UNKNOWN_TOPIC"
    await ws.close()


@pytest.mark.parametrize(
    ("payload", "status", "code", "error"),
    [
        (
            {"topic": "badtopic"},
            400,
            "UNKNOWN_TOPIC",
            "unknown subscription topic: badtopic",
        ),
        ({"topic": "account"}, 400, "MISSING_ACCOUNT_ID", "accountId is required"),
        (
            {"topic": "account", "params": {"accountId": ""}},
            400,
            "MISSING_ACCOUNT_ID",
            None,
        ),
        (
            {"topic": "pnl", "params": {"startTime": "2024-01-01T00:00:00Z"}},
            400,
            "MISSING_ACCOUNT_ID",
            None,
        ),
        (
            {"topic": "account", "params": {"accountId": "ACC999999"}},
            403,
            "ACCESS_DENIED",
            None,
        ),
        (
            {"topic": "pnl", "params": {"accountId": "OWN"}},
            400,
            "MISSING_START_TIME",
            "startTime is required",
        ),
        (
            {"topic": "pnl", "params": {"accountId": "OWN", "startTime": "yesterday"}},
            400,
            "MISSING_START_TIME",
            None,
        ),
        (
            {
                "topic": "pnl",
                "params": {
                    "accountId": "OWN",
                    "startTime": "2024-01-01T00:00:00Z",
                    "interval": "2m",
                },
            },
            400,
            "INVALID_INTERVAL",
            None,
        ),
        ({"topic": "news", "params": {"symbols": "AAPL"}}, 400, "INVALID_PARAMS", None),
        ({"topic": "news", "params": {"topics": [1]}}, 400, "INVALID_PARAMS", None),
    ],
)
async def test_every_subscribe_error_code(
    control, ws_url, payload, status, code, error
):
    # given
    user = new_user(control)
    payload = json.loads(json.dumps(payload).replace("OWN", user["account_ids"][0]))
    ws = await open_session(ws_url, user["access_token"])

    # when
    await send(ws, {"type": "subscribe", "id": "req-002", "payload": payload})
    answer = await recv_json(ws)

    # then: the doc's error response format
    assert answer["type"] == "response" and answer["id"] == "req-002"
    assert set(answer) == {"type", "id", "timestamp", "payload"}
    assert answer["payload"]["status"] == status
    assert answer["payload"]["code"] == code
    if error is not None:
        assert answer["payload"]["error"] == error
    await ws.close()


async def test_another_users_account_is_access_denied_for_account_and_pnl(
    control, ws_url
):
    # given
    alice, bob = new_user(control), new_user(control)
    ws = await open_session(ws_url, alice["access_token"])
    theirs = bob["account_ids"][0]

    # when
    account = await subscribe(ws, "account", {"accountId": theirs}, "a")
    pnl = await subscribe(
        ws, "pnl", {"accountId": theirs, "startTime": "2024-01-01T00:00:00Z"}, "p"
    )

    # then
    assert account["payload"]["code"] == pnl["payload"]["code"] == "ACCESS_DENIED"
    assert account["payload"]["status"] == 403
    await ws.close()


async def test_unsubscribe_answers_as_the_doc_shows_and_stops_events(control, ws_url):
    # given
    user = new_user(control)
    ws, account_id = await watch_account(ws_url, user)

    # when
    answers = []
    for request_id in ("req-007", "again"):
        payload = {"topic": "account", "params": {"accountId": account_id}}
        await send(ws, {"type": "unsubscribe", "id": request_id, "payload": payload})
        answers.append(await recv_json(ws))
    answer, again = answers
    place(control, account_id, "BUY", "1")

    # then
    assert answer["type"] == "response" and answer["id"] == "req-007"
    assert answer["payload"] == {
        "status": 200,
        "data": {"unsubscribed": True, "topic": "account", "accountId": account_id},
    }
    assert again["payload"]["data"]["unsubscribed"] is False
    assert await frames_for(ws, 0.3) == []
    await ws.close()


async def test_closing_the_client_removes_the_connection(control, ws_url):
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])
    assert len(overview(control)["connections"]) == 1

    await ws.close()
    await asyncio.sleep(0.1)

    assert overview(control)["connections"] == []


async def test_a_storm_of_random_frames_leaves_the_connection_working(control, ws_url):
    # given
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])
    rng = random.Random(7)
    values = [None, True, 0, -1, 1.5, "", "x", "account", [], {}, [1, "a"], {"a": 1}]
    keys = ["type", "id", "payload", "topic", "params", "accountId", "startTime"]
    kinds = ["request", "subscribe", "unsubscribe", "ping", "pong", "event", None]
    topics = ["account", "pnl", "news", "watchlist", "x", None, 3]

    # when: 300 frames of random shapes
    for _ in range(300):
        payload = {
            rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 4))
        }
        if rng.random() < 0.5:
            payload["topic"] = rng.choice(topics)
            payload["params"] = {
                rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 3))
            }
        message = {
            "type": rng.choice(kinds),
            "id": rng.choice(values),
            "payload": payload,
        }
        await ws.send(json.dumps(message))
    await send(ws, {"type": "ping", "id": "still-there"})

    # then: every answer is a well-formed reply; none is an internal error
    answers = []
    while True:
        answer = await recv_json(ws)
        if answer.get("type") == "pong" and answer["id"] == "still-there":
            break
        answers.append(answer)
    assert answers
    for answer in answers:
        assert answer["type"] in ("response", "subscribed", "pong", "event"), answer
        if answer["type"] == "response":
            assert answer["payload"].get("code") != "INTERNAL_ERROR", answer
    await ws.close()
