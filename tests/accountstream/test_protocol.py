"""The account stream's protocol rules, pure: what a client's requests mean and how
the gateway's own frames look (the Aries documentation's shapes)."""

import json

import pytest

from accountstream import protocol
from accountstream.streams import with_id


def subscribe(topic, params=None, kind="subscribe"):
    payload = {"topic": topic}
    if params is not None:
        payload["params"] = params
    return {"type": kind, "id": "req-1", "payload": payload}


@pytest.mark.parametrize("method", ["post", "POST", "Post"])
def test_an_auth_request_is_recognised_whatever_the_method_case(method):
    message = {
        "type": "request",
        "id": "auth-001",
        "payload": {"method": method, "path": "/auth", "body": {"token": "k"}},
    }

    assert protocol.auth_token(message) == "k"


@pytest.mark.parametrize(
    ("message", "token"),
    [
        ({"type": "request", "payload": {"method": "get", "path": "/auth"}}, None),
        ({"type": "request", "payload": {"method": "post", "path": "/x"}}, None),
        ({"type": "subscribe", "payload": {"method": "post", "path": "/auth"}}, None),
        ({"type": "request", "payload": "nope"}, None),
        ({"type": "request", "payload": {"method": "post", "path": "/auth"}}, ""),
        (
            {
                "type": "request",
                "payload": {"method": "post", "path": "/auth", "body": {"token": 7}},
            },
            "",
        ),
    ],
)
def test_other_messages_are_not_auth_requests_and_a_missing_token_is_empty(
    message, token
):
    assert protocol.auth_token(message) == token


@pytest.mark.parametrize(
    ("message", "ident"),
    [
        ({"id": "a"}, "a"),
        ({"payload": {"id": "b"}}, "b"),
        ({"id": 12}, "12"),
        ({"id": True}, None),
        ({"id": "x" * 200}, None),
        ({}, None),
    ],
)
def test_replies_are_matched_by_the_top_level_id_or_the_payload_id(message, ident):
    assert protocol.request_id(message) == ident


def test_subscriptions_are_keyed_by_what_upstream_streams():
    account = protocol.subscription(subscribe("account", {"accountId": "ACC1"}))
    pnl = protocol.subscription(
        subscribe("pnl", {"accountId": "ACC1", "startTime": "2024-01-01T00:00:00Z"})
    )
    news = protocol.subscription(subscribe("news", {"symbols": ["TSLA", "AAPL"]}))

    assert account.key == ("account", "ACC1") and account.account_id == "ACC1"
    assert pnl.key == ("pnl", "ACC1", "1m")
    assert pnl.params["startTime"] == "2024-01-01T00:00:00Z"
    assert news.key == ("news",) and news.params == {"symbols": ["AAPL", "TSLA"]}
    assert protocol.subscription(subscribe("watchlist")).key == ("watchlist",)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (subscribe("badtopic"), "UNKNOWN_TOPIC"),
        ({"type": "subscribe", "id": "r"}, "UNKNOWN_TOPIC"),
        (subscribe("account"), "MISSING_ACCOUNT_ID"),
        (subscribe("account", {"accountId": ""}), "MISSING_ACCOUNT_ID"),
        (subscribe("pnl", {"startTime": "2024-01-01T00:00:00Z"}), "MISSING_ACCOUNT_ID"),
        (subscribe("pnl", {"accountId": "A"}), "MISSING_START_TIME"),
        (
            subscribe("pnl", {"accountId": "A", "startTime": "soon"}),
            "MISSING_START_TIME",
        ),
        (
            subscribe(
                "pnl",
                {
                    "accountId": "A",
                    "startTime": "2024-01-01T00:00:00Z",
                    "interval": "2m",
                },
            ),
            "INVALID_INTERVAL",
        ),
        (subscribe("news", {"symbols": "AAPL"}), "UNKNOWN_TOPIC"),
    ],
)
def test_bad_subscriptions_are_refused_with_upstreams_codes(message, code):
    with pytest.raises(protocol.Refused) as refused:
        protocol.subscription(message)

    assert refused.value.code == code and refused.value.status == 400


def test_an_unsubscribe_from_pnl_needs_no_start_time():
    sub = protocol.subscription(
        subscribe("pnl", {"accountId": "A", "interval": "1h"}, kind="unsubscribe")
    )

    assert sub.key == ("pnl", "A", "1h")


def test_the_gateways_frames_have_the_documented_shapes():
    error = json.loads(
        protocol.error("req-2", 400, "MISSING_ACCOUNT_ID", "accountId is required")
    )
    success = json.loads(protocol.auth_success("auth-001", 3_900_000))
    warning = json.loads(protocol.refresh_warning(300_000, 1_703_001_534_567))

    assert error["type"] == "response" and error["id"] == "req-2"
    assert error["payload"] == {
        "status": 400,
        "error": "accountId is required",
        "code": "MISSING_ACCOUNT_ID",
    }
    assert error["timestamp"].endswith("Z")
    assert success["payload"]["action"] == "authSuccess"
    assert success["payload"]["data"] == {"expiresIn": 3_900_000}
    assert success["payload"]["id"] == "auth-001"
    assert isinstance(success["payload"]["timestamp"], int)
    assert warning["payload"]["data"] == {
        "expiresIn": 300_000,
        "expiresAt": 1_703_001_534_567,
    }
    assert warning["payload"]["id"] == "system"
    assert json.loads(protocol.auth_expired())["payload"]["action"] == "authExpired"
    assert json.loads(protocol.auth_timeout())["payload"]["data"] == {
        "error": "authentication timeout"
    }
    assert json.loads(protocol.pong("ping-001"))["id"] == "ping-001"


def test_a_reply_keeps_every_byte_but_its_id():
    text = (
        '{"type": "subscribed", "id": "gw-7", "payload": {"data": {"positions": '
        '[{"id": "gw-7x", "qty": "0.00000001", "avgPrice": "123456789.123456789"}]}}}'
    )

    out = with_id(text, "gw-7", "req-002")

    assert out == text.replace('"id": "gw-7",', '"id": "req-002",')
    assert with_id(text, "gw-9", "x") == text  # not ours: unchanged
