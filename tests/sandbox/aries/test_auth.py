"""Authentication on the accounts WebSocket and its deadline, and sessions:
refreshAuth, authExpired, re-authentication on the same connection."""

import time

import pytest
from websockets.asyncio.client import connect

from tests.sandbox.aries.conftest import (
    auth_request,
    authenticate,
    configure,
    is_action,
    new_user,
    next_where,
    open_session,
    overview,
    send,
    subscribe,
)
from tests.sandbox.helpers import closed, recv_json

# --- authentication -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "POST"])
async def test_the_docs_auth_request_succeeds_with_the_session_length(
    control, ws_url, method
):
    # given
    user = new_user(control)

    # when
    async with connect(ws_url) as ws:
        await send(ws, auth_request(user["access_token"], method=method))
        answer = await recv_json(ws)

    # then
    assert answer["type"] == "event"
    payload = answer["payload"]
    assert payload["action"] == "authSuccess"
    assert payload["data"] == {"expiresIn": 3_900_000}
    assert payload["id"] == "auth-001" and answer["id"] == "auth-001"
    assert abs(payload["timestamp"] - time.time() * 1000) < 5_000


async def test_no_auth_within_the_deadline_gets_auth_timeout_then_close(
    control, ws_url
):
    # given
    configure(control, auth_timeout_seconds=0.2)

    # when
    async with connect(ws_url) as ws:
        started = time.monotonic()
        event = await recv_json(ws)
        ended = await closed(ws)

    # then
    assert 0.15 < time.monotonic() - started < 2
    assert event["type"] == "event"
    assert event["payload"]["action"] == "authTimeout"
    assert event["payload"]["data"] == {"error": "authentication timeout"}
    assert event["payload"]["id"] == "system"
    assert ended == (1008, "authentication timeout")


async def test_the_default_auth_deadline_is_five_seconds(control):
    assert overview(control)["config"]["auth_timeout_seconds"] == 5


@pytest.mark.parametrize(
    "token", ["garbage", "", None, 12, "eyJhbGciOiJIUzI1NiJ9.e30.x"]
)
async def test_a_bad_token_is_invalid_token_and_the_connection_stays(
    control, ws_url, token
):
    # given
    user = new_user(control)

    # when
    async with connect(ws_url) as ws:
        await send(ws, auth_request(token, "auth-bad"))
        refused = await recv_json(ws)
        await authenticate(ws, user["access_token"], "auth-good")

    # then
    assert refused["type"] == "response" and refused["id"] == "auth-bad"
    assert refused["payload"]["status"] == 401
    assert refused["payload"]["code"] == "INVALID_TOKEN"
    assert isinstance(refused["timestamp"], str) and refused["timestamp"].endswith("Z")


async def test_requests_other_than_post_auth_are_answered_not_found_or_not_allowed(
    control, ws_url
):
    async with connect(ws_url) as ws:
        await send(
            ws,
            {
                "type": "request",
                "id": "r1",
                "payload": {"method": "post", "path": "/x"},
            },
        )
        not_found = await recv_json(ws)
        await send(ws, auth_request("t", "r2", method="get"))
        not_allowed = await recv_json(ws)

    assert (not_found["id"], not_found["payload"]["status"]) == ("r1", 404)
    assert not_found["payload"]["code"] == "NOT_FOUND"
    assert (not_allowed["id"], not_allowed["payload"]["status"]) == ("r2", 405)


async def test_subscribing_before_auth_is_auth_required(control, ws_url):
    async with connect(ws_url) as ws:
        await send(
            ws, {"type": "subscribe", "id": "req-1", "payload": {"topic": "watchlist"}}
        )
        answer = await recv_json(ws)
        await send(ws, {"type": "unsubscribe", "id": "req-2", "payload": {}})
        second = await recv_json(ws)

    assert answer["payload"] == {
        "status": 401,
        "error": "authentication required",
        "code": "AUTH_REQUIRED",
    }
    assert answer["id"] == "req-1"
    assert second["payload"]["code"] == "AUTH_REQUIRED"


# --- sessions -----------------------------------------------------------------------


async def test_refresh_warning_then_expiry_and_close(control, ws_url):
    # given
    configure(control, session_seconds=0.6, refresh_warning_seconds=0.4)
    user = new_user(control)

    # when
    async with connect(ws_url) as ws:
        success = await authenticate(ws, user["access_token"])
        started = time.monotonic()
        warning = await recv_json(ws)
        warned_after = time.monotonic() - started
        expired = await recv_json(ws)
        expired_after = time.monotonic() - started
        ended = await closed(ws)

    # then
    assert success["payload"]["data"]["expiresIn"] == 600
    assert warning["payload"]["action"] == "refreshAuth"
    assert warning["payload"]["id"] == "system"
    data = warning["payload"]["data"]
    assert 300 <= data["expiresIn"] <= 400
    assert abs(data["expiresAt"] - (warning["payload"]["timestamp"] + 400)) < 100
    assert 0.1 < warned_after < 0.5
    assert expired["payload"]["action"] == "authExpired"
    assert expired["payload"]["data"] == {"error": "session expired"}
    assert 0.45 < expired_after < 1.5
    assert ended == (1008, "session expired")


async def test_re_auth_on_the_connection_extends_the_session(control, ws_url):
    # given
    configure(control, session_seconds=0.5, refresh_warning_seconds=0.3)
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])
    await subscribe(ws, "watchlist")

    # when: re-authenticating on each warning keeps the session past its length
    started = time.monotonic()
    for round_ in range(3):
        await next_where(ws, is_action("refreshAuth"))
        await send(ws, auth_request(user["access_token"], f"re-{round_}"))
        ident = f"re-{round_}"
        again = await next_where(ws, lambda m, ident=ident: m.get("id") == ident)
        assert again["payload"]["action"] == "authSuccess"

    # then
    assert time.monotonic() - started > 0.5
    listed = overview(control)["connections"]
    assert listed[0]["user_id"] == user["user_id"]
    assert listed[0]["subscriptions"] == [{"topic": "watchlist", "params": {}}]
    assert (await next_where(ws, is_action("authExpired")))["payload"]["data"] == {
        "error": "session expired"
    }
    await ws.close()


async def test_re_auth_as_another_user_is_denied_and_the_session_stays(control, ws_url):
    # given
    alice, bob = new_user(control), new_user(control)
    ws = await open_session(ws_url, alice["access_token"])

    # when
    await send(ws, auth_request(bob["access_token"], "swap"))
    answer = await recv_json(ws)

    # then
    assert answer["payload"]["code"] == "ACCESS_DENIED"
    assert answer["payload"]["status"] == 403
    reply = await subscribe(ws, "account", {"accountId": alice["account_ids"][0]})
    assert reply["type"] == "subscribed"
    await ws.close()


async def test_no_refresh_warning_when_it_is_zero(control, ws_url):
    configure(control, session_seconds=0.3, refresh_warning_seconds=0)
    user = new_user(control)

    async with connect(ws_url) as ws:
        await authenticate(ws, user["access_token"])
        first = await recv_json(ws)

    assert first["payload"]["action"] == "authExpired"
