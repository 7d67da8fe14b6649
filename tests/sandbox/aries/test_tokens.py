"""Brokerage users from the control API and the OAuth-style token endpoint
(`POST /oauth2/token`): JWT access tokens, rotating refresh tokens, RFC 6749 errors."""

import datetime as dt

import jwt
import pytest
from websockets.asyncio.client import connect

from orgportal import clock
from tests.sandbox.aries.conftest import (
    auth_request,
    authenticate,
    configure,
    new_user,
    open_session,
    send,
)
from tests.sandbox.helpers import recv_json


def refresh(control, token, *, form=False):
    body = {"grant_type": "refresh_token", "refresh_token": token}
    if form:
        return control.post("/oauth2/token", data=body)
    return control.post("/oauth2/token", json=body)


def test_a_user_is_created_with_accounts_and_tokens(control):
    # when
    user = new_user(control, accounts=3)

    # then
    assert set(user) >= {"user_id", "access_token", "refresh_token", "account_ids"}
    assert len(user["account_ids"]) == 3
    assert all(a.startswith("ACC") and a[3:].isdigit() for a in user["account_ids"])
    claims = jwt.decode(user["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["user_id"]
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(user["access_token"])["alg"] == "HS256"
    assert claims["jti"]


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_a_refresh_token_gives_a_new_pair_and_is_spent(control, form):
    # given
    user = new_user(control)

    # when
    first = refresh(control, user["refresh_token"], form=form)
    reused = refresh(control, user["refresh_token"], form=form)

    # then
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] != user["refresh_token"]
    assert (
        jwt.decode(body["access_token"], options={"verify_signature": False})["sub"]
        == user["user_id"]
    )
    assert first.headers["Cache-Control"] == "no-store"
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert reused.json()["error_description"]
    # the rotated one works once
    assert refresh(control, body["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"refresh_token": "x"}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "password", "refresh_token": "x"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": 7}, "invalid_request"),
    ],
)
def test_bad_token_requests_get_rfc6749_errors(control, body, error):
    response = control.post("/oauth2/token", json=body)

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_a_body_that_is_not_json_is_an_invalid_request(control):
    response = control.post(
        "/oauth2/token", content=b"{", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_the_token_lifetime_is_settable(control):
    # given
    configure(control, token_seconds=120)
    user = new_user(control)

    # when
    body = refresh(control, user["refresh_token"]).json()

    # then
    assert user["expires_in"] == 120 and body["expires_in"] == 120
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120


async def test_a_refreshed_access_token_authenticates_and_the_old_one_still_does(
    control, ws_url
):
    # given
    user = new_user(control)
    fresh = refresh(control, user["refresh_token"]).json()

    # when / then: access tokens are not revoked by a refresh, only by expiry
    for token in (fresh["access_token"], user["access_token"]):
        ws = await open_session(ws_url, token)
        await ws.close()


async def test_an_expired_access_token_is_refused_with_invalid_token(control, ws_url):
    # given
    user = new_user(control)
    clock.advance(dt.timedelta(seconds=3601))

    # when
    async with connect(ws_url) as ws:
        await send(ws, auth_request(user["access_token"]))
        answer = await recv_json(ws)

    # then
    assert answer["type"] == "response" and answer["id"] == "auth-001"
    assert answer["payload"] == {
        "status": 401,
        "error": "token is invalid or expired",
        "code": "INVALID_TOKEN",
    }
    # a refresh still works after the access token expired
    assert refresh(control, user["refresh_token"]).status_code == 200


async def test_tokens_from_before_a_reset_are_refused(sandbox, control, ws_url):
    # given
    user = new_user(control)
    sandbox.state.reset()
    again = new_user(control)
    assert again["user_id"] == user["user_id"]  # ids restart

    # when
    async with connect(ws_url) as ws:
        await send(ws, auth_request(user["access_token"]))
        answer = await recv_json(ws)
        await authenticate(ws, again["access_token"], "auth-002")

    # then
    assert answer["payload"]["code"] == "INVALID_TOKEN"
    assert refresh(control, user["refresh_token"]).json()["error"] == "invalid_grant"
