"""The Aries control API's validation: every body is checked whole, a bad value is a
400 naming the field and changes nothing, never a 500."""

import pytest

from tests.sandbox.aries.conftest import (
    new_user,
    open_session,
    overview,
    place,
    subscribe,
    wait_for_order,
)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"session_seconds": -1}, "session_seconds"),
        ({"auth_timeout_seconds": 0}, "auth_timeout_seconds"),
        ({"refresh_warning_seconds": "5"}, "refresh_warning_seconds"),
        ({"fill_step_seconds": True}, "fill_step_seconds"),
        ({"garbage_rate": 2}, "garbage_rate"),
        ({"load_events_per_second": 1001}, "load_events_per_second"),
        ({"load_events_per_second": -1}, "load_events_per_second"),
        ({"token_seconds": 1.5}, "token_seconds"),
        ({"token_seconds": 0}, "token_seconds"),
        ({"stall_seconds": 1e9}, "stall_seconds"),
        ({"drop": "yes"}, "drop"),
        ({"synth_news": 1}, "synth_news"),
        ({"day_orders_expire_at": "tomorrow"}, "day_orders_expire_at"),
        ({"day_orders_expire_at": "2026-03-01T21:00:00"}, "day_orders_expire_at"),
        ({"expire_token": ""}, "expire_token"),
        ({"revoke_refresh": True}, "revoke_refresh"),
        ({"session_seconds": 10, "nonsense": 1}, "nonsense"),
        ([], "body"),
    ],
)
def test_bad_settings_are_refused_whole(control, body, field):
    # when
    response = control.post("/_sandbox/aries", json=body)

    # then
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["code"] == "INVALID_REQUEST"
    assert response.json()["details"] == {"field": field}
    assert overview(control)["config"]["session_seconds"] == 3900


def test_settings_are_shown_and_changed(control):
    # when
    response = control.post(
        "/_sandbox/aries",
        json={
            "session_seconds": 60,
            "token_seconds": 90,
            "day_orders_expire_at": "2026-03-01T16:00:00-05:00",
            "refuse_seconds": 5,
        },
    )

    # then
    config = response.json()["config"]
    assert config["session_seconds"] == 60 and config["token_seconds"] == 90
    assert config["day_orders_expire_at"] == "2026-03-01T21:00:00Z"
    assert 4 < config["refuse_seconds"] <= 5
    assert set(config) == {
        "auth_timeout_seconds",
        "load_events_per_second",
        "session_seconds",
        "refresh_warning_seconds",
        "token_seconds",
        "fill_step_seconds",
        "pnl_every_seconds",
        "synth_news",
        "day_orders_expire_at",
        "garbage_rate",
        "refuse_seconds",
        "stall_seconds",
    }


def test_the_sandbox_reset_restores_the_aries_defaults(sandbox, control):
    control.post("/_sandbox/aries", json={"session_seconds": 60})
    new_user(control)

    sandbox.state.reset()

    shown = overview(control)
    assert shown["config"]["session_seconds"] == 3900 and shown["users"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accounts": 0}, "accounts"),
        ({"accounts": 51}, "accounts"),
        ({"accounts": "2"}, "accounts"),
        ({"accounts": 1, "cash": 1.5}, "cash"),
        ({"accounts": 1, "cash": "-1"}, "cash"),
        ({"accounts": 1, "cash": "abc"}, "cash"),
        ({"accounts": 1, "cash": "NaN"}, "cash"),
        ({"accounts": 1, "account_type": "OFFSHORE"}, "account_type"),
        ({"accounts": 1, "extra": 1}, "extra"),
    ],
)
def test_bad_user_bodies_are_refused(control, body, field):
    response = control.post("/_sandbox/aries/users", json=body)

    assert response.status_code == 400
    assert response.json()["details"] == {"field": field}
    assert overview(control)["users"] == 0


def test_a_user_can_have_a_cash_account_with_exact_cash(control):
    user = new_user(control, accounts=2, cash="0.00000001", account_type="CASH")

    shown = control.get(f"/_sandbox/aries/users/{user['user_id']}").json()

    account = shown["accounts"][user["account_ids"][1]]["account"]
    assert account["accountType"] == "CASH"
    assert account["cashAvailable"] == account["totalEquity"] == "0.00000001"
    assert shown["watchlists"] == {"WL-001": []}


ORDER = {"symbol": "AAPL", "side": "BUY", "qty": "1"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"account_id": None}, "account_id"),
        ({"account_id": "ACC1"}, "account_id"),
        ({"side": "HOLD"}, "side"),
        ({"qty": "0"}, "qty"),
        ({"qty": "-1"}, "qty"),
        ({"qty": 1.5}, "qty"),
        ({"qty": "Infinity"}, "qty"),
        ({"qty": "1" * 50}, "qty"),
        ({"type": "TRAILING_STOP"}, "type"),
        ({"type": "LIMIT"}, "price"),
        ({"type": "MARKET", "price": "1.00"}, "price"),
        ({"type": "STOP"}, "stop_price"),
        ({"type": "LIMIT", "price": "1", "stop_price": "1"}, "stop_price"),
        ({"time_in_force": "GTD"}, "time_in_force"),
        ({"symbol": ""}, "symbol"),
        ({"client_order_id": 5}, "client_order_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_orders_are_refused_before_anything_happens(control, changes, field):
    # given
    user = new_user(control)
    body = {"account_id": user["account_ids"][0], **ORDER, **changes}
    body = {k: v for k, v in body.items() if v is not None}

    # when
    response = control.post("/_sandbox/aries/orders", json=body)

    # then
    assert response.status_code == 400, response.text
    assert response.json()["details"] == {"field": field}
    snapshot = control.get(f"/_sandbox/aries/users/{user['user_id']}").json()
    assert snapshot["accounts"][user["account_ids"][0]]["orders"] == []


def test_cancel_and_replace_of_unknown_or_finished_orders(control, fast):
    user = new_user(control)
    done = place(control, account_id=user["account_ids"][0], **ORDER)
    wait_for_order(control, done, "FILLED")

    unknown = control.post("/_sandbox/aries/orders/ORD-1/cancel")
    finished = control.post(f"/_sandbox/aries/orders/{done}/replace", json={"qty": "5"})
    empty = control.post(f"/_sandbox/aries/orders/{done}/replace", json={})
    market_price = control.post(
        f"/_sandbox/aries/orders/{done}/replace", json={"price": "5"}
    )
    below_filled = control.post(
        f"/_sandbox/aries/orders/{done}/replace", json={"qty": "1"}
    )

    assert unknown.status_code == 404 and unknown.json()["code"] == "ORDER_NOT_FOUND"
    assert finished.status_code == 409
    assert empty.status_code == 400 and empty.json()["details"]["field"] == "qty"
    assert market_price.json()["details"] == {"field": "price"}
    assert below_filled.json()["details"] == {"field": "qty"}


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/prices", {"symbol": "ZZZZ", "price": "1"}, 400, "symbol"),
        ("/prices", {"symbol": "AAPL"}, 400, "price"),
        ("/prices", {"symbol": "AAPL", "price": "abc"}, 400, "price"),
        ("/prices", {"symbol": "AAPL", "price": "0"}, 400, "price"),
        (
            "/watchlists",
            {"user_id": "U1", "action": "add", "symbol": "AAPL"},
            404,
            None,
        ),
        (
            "/watchlists",
            {"user_id": "USER", "action": "pin", "symbol": "AAPL"},
            400,
            "action",
        ),
        (
            "/watchlists",
            {"user_id": "USER", "action": "add", "symbol": "ZZZZ"},
            400,
            "symbol",
        ),
        ("/news", {"summary": "no headline"}, 400, "headline"),
        ("/news", {"headline": "x", "symbols": "AAPL"}, 400, "symbols"),
        ("/news", {"headline": "x", "topics": [""]}, 400, "topics"),
        ("/orders/expire", {"account_id": "ACC1"}, 400, "account_id"),
    ],
)
def test_other_bad_control_bodies(control, path, body, status, field):
    user = new_user(control)
    body = {k: (user["user_id"] if v == "USER" else v) for k, v in body.items()}

    response = control.post(f"/_sandbox/aries{path}", json=body)

    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    if field is not None:
        assert response.json()["details"] == {"field": field}


def test_a_price_override_is_shown_and_cleared(control):
    control.post(
        "/_sandbox/aries/prices", json={"symbol": "NASDAQ:AAPL", "price": "1.5"}
    )
    shown = overview(control)["prices"]

    cleared = control.post(
        "/_sandbox/aries/prices", json={"symbol": "AAPL", "price": None}
    )

    assert shown == {"AAPL": "1.5"}
    assert cleared.status_code == 200 and cleared.json()["price"] != "1.5"
    assert overview(control)["prices"] == {}


async def test_open_connections_are_listed_with_subscriptions_and_frames_sent(
    control, ws_url
):
    user = new_user(control)
    ws = await open_session(ws_url, user["access_token"])
    await subscribe(ws, "account", {"accountId": user["account_ids"][0]})

    [listed] = overview(control)["connections"]

    assert listed["user_id"] == user["user_id"]
    assert listed["subscriptions"] == [
        {"topic": "account", "params": {"accountId": user["account_ids"][0]}}
    ]
    assert listed["sent"] == 2  # authSuccess, subscribed
    assert 3800 < listed["session_seconds_left"] <= 3900
    await ws.close()
