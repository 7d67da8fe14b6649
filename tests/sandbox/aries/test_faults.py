"""Faults injected live through `POST /_sandbox/aries`: dropped connections, stalls,
garbage frames, refused upgrades, expired tokens."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.sandbox.aries.conftest import (
    auth_request,
    configure,
    new_user,
    next_where,
    open_session,
    overview,
    place,
    send,
    watch_account,
)
from tests.sandbox.helpers import closed, frames_for, recv_json


def refresh(control, token):
    return control.post(
        "/oauth2/token", json={"grant_type": "refresh_token", "refresh_token": token}
    )


async def test_drop_cuts_every_connection_without_a_close_frame(control, ws_url):
    # given
    user = new_user(control)
    first = await open_session(ws_url, user["access_token"])
    second = await connect(ws_url)

    # when
    configure(control, drop=True)

    # then
    assert await closed(first) == (None, None)
    assert await closed(second) == (None, None)
    await asyncio.sleep(0.05)
    assert overview(control)["connections"] == []


async def test_a_stall_withholds_pongs_and_events_until_it_ends(control, ws_url, fast):
    # given
    user = new_user(control)
    ws, account_id = await watch_account(ws_url, user)

    # when
    configure(control, stall_seconds=0.4)
    await send(ws, {"type": "ping", "id": "during"})
    place(control, account_id, "BUY", "1")
    during = await frames_for(ws, 0.25)
    await asyncio.sleep(0.2)
    await send(ws, {"type": "ping", "id": "after"})
    pong = await next_where(ws, lambda m: m.get("type") == "pong")

    # then
    assert during == []
    assert pong["id"] == "after"
    assert overview(control)["config"]["stall_seconds"] == 0
    await ws.close()


async def test_garbage_replaces_event_frames_but_not_replies(control, ws_url, fast):
    # given
    user = new_user(control)
    ws, account_id = await watch_account(ws_url, user)
    configure(control, garbage_rate=1)

    # when
    place(control, account_id, "BUY", "1")
    frames = await frames_for(ws, 0.3)
    await send(ws, {"type": "ping", "id": "p"})
    pong = await recv_json(ws)

    # then: every event frame is unparsable, the connection works on
    assert len(frames) >= 4
    for frame in frames:
        with pytest.raises(ValueError):
            json.loads(frame)
    assert pong == {**pong, "type": "pong", "id": "p"}
    await ws.close()


async def test_refuse_answers_new_upgrades_503_until_it_ends(control, ws_url):
    # given
    user = new_user(control)
    open_ws = await open_session(ws_url, user["access_token"])
    configure(control, refuse_seconds=30)

    # when
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url)
    configure(control, refuse_seconds=0)
    again = await open_session(ws_url, user["access_token"])

    # then: the open connection was not touched
    assert refused.value.response.status_code == 503
    await send(open_ws, {"type": "ping", "id": "still"})
    assert (await recv_json(open_ws))["id"] == "still"
    await open_ws.close()
    await again.close()


async def test_expiring_a_user_ends_their_sessions_but_refresh_still_works(
    control, ws_url
):
    # given
    user, other = new_user(control), new_user(control)
    ws = await open_session(ws_url, user["access_token"])
    bystander = await open_session(ws_url, other["access_token"])

    # when
    configure(control, expire_token=user["user_id"])
    expired = await recv_json(ws)
    ended = await closed(ws)

    # then
    assert expired["payload"]["action"] == "authExpired"
    assert expired["payload"]["data"] == {"error": "token expired"}
    assert ended == (1008, "token expired")
    async with connect(ws_url) as again:
        await send(again, auth_request(user["access_token"]))
        assert (await recv_json(again))["payload"]["code"] == "INVALID_TOKEN"
    fresh = refresh(control, user["refresh_token"])
    assert fresh.status_code == 200
    await (await open_session(ws_url, fresh.json()["access_token"])).close()
    await send(bystander, {"type": "ping", "id": "b"})
    assert (await recv_json(bystander))["id"] == "b"
    await bystander.close()


async def test_expiring_one_access_token_spares_other_sessions_of_the_user(
    control, ws_url
):
    # given: the same user on two tokens
    user = new_user(control)
    second_token = refresh(control, user["refresh_token"]).json()["access_token"]
    first = await open_session(ws_url, user["access_token"])
    second = await open_session(ws_url, second_token)

    # when
    configure(control, expire_token=user["access_token"])

    # then
    assert (await recv_json(first))["payload"]["action"] == "authExpired"
    await send(second, {"type": "ping", "id": "ok"})
    assert (await recv_json(second))["id"] == "ok"
    await second.close()


async def test_revoke_refresh_also_refuses_the_refresh_token(control):
    user = new_user(control)

    configure(control, expire_token=user["user_id"], revoke_refresh=True)

    answer = refresh(control, user["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_a_session_expired_by_fault_sends_no_more_account_events(
    control, ws_url, fast
):
    # given
    user = new_user(control)
    ws, account_id = await watch_account(ws_url, user)

    # when
    configure(control, expire_token=user["user_id"])
    expired = await recv_json(ws)
    place(control, account_id, "BUY", "1")

    # then: the authExpired was the last frame
    assert expired["payload"]["action"] == "authExpired"
    assert await closed(ws) == (1008, "token expired")


async def test_expire_token_must_name_a_user_or_an_issued_token_and_changes_nothing(
    control,
):
    response = control.post(
        "/_sandbox/aries", json={"session_seconds": 1, "expire_token": "nobody"}
    )

    assert response.status_code == 400
    assert response.json()["details"] == {"field": "expire_token"}
    assert overview(control)["config"]["session_seconds"] == 3900
