"""The REST API: the Organization API mirror, its extensions, and bad input."""

import json

import pytest

from billing.models import LedgerTransaction
from members.models import (
    IdempotencyRecord,
    Member,
)
from tests.api.hostile import counts
from tests.keys import key_owner
from tests.rest import BASE, post

pytestmark = pytest.mark.django_db


def test_the_docs_curl_flow_runs_against_the_mirror(api, funded):
    # create john_doe on pro
    r = post(
        api,
        "/members/create",
        {"uid": "john_doe", "plan": "pro", "full_name": "John Doe"},
    )
    assert r.status_code == 200, r.json()
    member = r.json()["member"]
    assert r.json()["success"] is True
    assert member["uid"] == "john_doe" and member["plan"] == "pro"
    assert member["api_key"].count(".") == 2
    for field in (
        "email",
        "full_name",
        "role",
        "status",
        "created_at",
        "plan_end_at",
        "websocket_symbols",
        "websocket_connections",
        "newsfeed",
        "rate_limit",
        "quota",
        "quota_exceeded",
        "auto_renew",
        "term_start",
    ):
        assert field in member
    # list
    r = api.get(BASE + "/members?page=1&limit=10")
    assert r.status_code == 200
    assert [m["uid"] for m in r.json()["members"]] == ["john_doe"]
    assert "…" in r.json()["members"][0]["api_key"]  # never the full key again
    # get
    assert api.get(BASE + "/members/john_doe").json()["member"]["plan"] == "pro"
    # update to ultra
    r = post(
        api, "/members/john_doe/update", {"plan": "ultra", "full_name": "John Doe Jr."}
    )
    assert r.status_code == 200
    assert r.json()["member"]["plan"] == "ultra"
    assert r.json()["member"]["full_name"] == "John Doe Jr."
    # cancel
    r = post(api, "/members/john_doe/cancel")
    assert r.status_code == 200 and r.json()["member"]["status"] == "cancelled"
    # delete
    r = api.delete(BASE + "/members/john_doe")
    assert r.status_code == 200 and r.json()["success"] is True
    assert api.get(BASE + "/members/john_doe").status_code == 404


def test_money_extensions(api, funded):
    r = api.get(BASE + "/credits/quote?credits=501")
    assert (r.json()["unit_price"], r.json()["total"]) == ("0.90", "450.90")
    assert api.get(BASE + "/balance").json()["balance"] == "1000.00"
    r = post(api, "/credits/purchase", {"credits": 500})
    assert r.json()["total"] == "500.00" and r.json()["balance"] == "1500.00"
    # the 500 credits bought last are refunded first, at 1.00, minus 10%
    r = post(api, "/credits/refund", {"credits": 100})
    assert (r.json()["gross"], r.json()["fee"], r.json()["net"]) == (
        "100.00",
        "10.00",
        "90.00",
    )
    post(api, "/members/create", {"uid": "m1", "plan": "pro"})
    r = api.get(BASE + "/members/m1/preview?plan=mega")
    assert r.status_code == 200
    body = r.json()
    assert (body["from_plan"], body["to_plan"], body["charge"]) == (
        "pro",
        "mega",
        "35.00",
    )
    assert body["balance_after"] == "1350.00"
    ledger = api.get(BASE + "/ledger?limit=2").json()
    assert [t["kind"] for t in ledger["transactions"]] == ["member_create", "refund"]
    more = api.get(BASE + f"/ledger?limit=2&cursor={ledger['next_cursor']}").json()
    assert [t["kind"] for t in more["transactions"]] == ["purchase", "purchase"]
    assert more["next_cursor"] is None
    assert (
        api.get(BASE + "/ledger?uid=m1").json()["transactions"][0]["wallet_amount"]
        == "-15.00"
    )


def test_idempotency_key_replays_and_detects_conflicts(api, funded):
    first = post(
        api,
        "/members/create",
        {"uid": "m1", "plan": "pro"},
        **{"Idempotency-Key": "k1"},
    )
    again = post(
        api,
        "/members/create",
        {"uid": "m1", "plan": "pro"},
        **{"Idempotency-Key": "k1"},
    )
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["member"]["uid"] == "m1"
    assert LedgerTransaction.objects.filter(kind="member_create").count() == 1
    other = post(
        api,
        "/members/create",
        {"uid": "m2", "plan": "pro"},
        **{"Idempotency-Key": "k1"},
    )
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_CONFLICT"
    # a refused request is replayed as refused, and changes nothing
    p1 = post(api, "/credits/purchase", {"credits": 5}, **{"Idempotency-Key": "k2"})
    p2 = post(api, "/credits/purchase", {"credits": 5}, **{"Idempotency-Key": "k2"})
    assert p1.json() == p2.json()
    assert LedgerTransaction.objects.filter(kind="purchase").count() == 2
    assert IdempotencyRecord.objects.count() == 2


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/members/create", {"plan": "pro"}, 400, "VALIDATION_ERROR"),
        ("/members/create", {"uid": "x" * 101, "plan": "pro"}, 400, "VALIDATION_ERROR"),
        ("/members/create", {"uid": "a", "plan": "gold"}, 400, "PLAN_NOT_FOUND"),
        ("/members/create", {"uid": 5, "plan": "pro"}, 400, "VALIDATION_ERROR"),
        ("/members/create", ["uid"], 400, "VALIDATION_ERROR"),
        (
            "/members/create",
            {"uid": "a", "plan": "pro", "auto_renew": "maybe"},
            400,
            "VALIDATION_ERROR",
        ),
        ("/members/nobody/update", {"plan": "pro"}, 404, "MEMBER_NOT_FOUND"),
        ("/members/nobody/cancel", None, 404, "MEMBER_NOT_FOUND"),
        ("/members/nobody/renew", None, 404, "MEMBER_NOT_FOUND"),
        ("/credits/purchase", {"credits": 0}, 400, "VALIDATION_ERROR"),
        ("/credits/purchase", {"credits": "1e9"}, 400, "VALIDATION_ERROR"),
        ("/credits/refund", {"credits": 100000}, 409, "NOT_REFUNDABLE"),
        (
            "/ledger/adjustments",
            {"amount": "1.001", "reason": "x"},
            400,
            "VALIDATION_ERROR",
        ),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(
    api, funded, path, body, status, code
):
    before = counts()
    r = post(api, path, body)
    assert r.status_code == status, r.content
    assert r.json()["code"] == code
    assert r.json()["error"] and isinstance(r.json()["details"], dict)
    assert counts() == before


def test_malformed_json_oversized_body_and_wrong_content_type(api, funded):
    r = api.post(
        BASE + "/members/create", data="{not json", content_type="application/json"
    )
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_JSON")
    big = json.dumps({"uid": "a", "plan": "pro", "full_name": "x" * 100_000})
    r = api.post(BASE + "/members/create", data=big, content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    r = api.post(BASE + "/members/create", data="uid=a", content_type="text/plain")
    assert (r.status_code, r.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert Member.objects.count() == 0


def test_tokens_missing_wrong_or_revoked(client, funded, service_token):
    from members.models import ServiceToken
    from members.services.keys import service_token_revoke

    r = client.get(BASE + "/members")
    assert (r.status_code, r.json()["code"]) == (401, "UNAUTHORIZED")
    r = client.get(BASE + "/members", headers={"Authorization": "Bearer nope"})
    assert (r.status_code, r.json()["code"]) == (401, "UNAUTHORIZED")
    r = client.get(BASE + "/members", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    ok = client.get(
        BASE + "/members", headers={"Authorization": f"Bearer {service_token}"}
    )
    assert ok.status_code == 200
    service_token_revoke(token_id=ServiceToken.objects.get().pk, actor="tests")
    r = client.get(
        BASE + "/members", headers={"Authorization": f"Bearer {service_token}"}
    )
    assert r.status_code == 401


def test_list_query_validation(api, funded):
    for query in ("page=0", "limit=1000", "page=abc", "status=frozen"):
        r = api.get(BASE + "/members?" + query)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), query


def test_insufficient_credits_is_402_before_upstream(api, db, sandbox):
    r = post(api, "/members/create", {"uid": "m1", "plan": "pro"})
    assert (r.status_code, r.json()["code"]) == (402, "INSUFFICIENT_CREDITS")
    assert r.json()["success"] is False
    assert sandbox.state.members == {}


def test_rotate_key_returns_a_new_key_once(api, funded):
    old = post(api, "/members/create", {"uid": "m1", "plan": "pro"}).json()["member"][
        "api_key"
    ]
    new = post(api, "/members/m1/rotate-key").json()["member"]["api_key"]
    assert new != old
    assert key_owner(old) is None
    assert key_owner(new).uid == "m1"


def test_settings_update_without_plan_is_local(api, funded, sandbox):
    post(api, "/members/create", {"uid": "m1", "plan": "ultra"})
    r = post(
        api,
        "/members/m1/update",
        {"auto_renew": False, "overrides": {"rate_limit": 10}},
    )
    assert r.status_code == 200
    member = r.json()["member"]
    assert member["auto_renew"] is False and member["rate_limit"] == 10
    # an override can never grant more than upstream
    r = post(api, "/members/m1/update", {"overrides": {"rate_limit": 500}})
    assert r.json()["member"]["rate_limit"] == 40


def test_schema_and_docs_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # served from this process, never a CDN: the docs work with no network
    assert b"cdn" not in docs.content.lower()
    assert b"/static/drf_spectacular_sidecar/" in docs.content


def test_a_member_called_create_is_reachable(api, funded):
    assert (
        post(api, "/members/create", {"uid": "create", "plan": "pro"}).status_code
        == 200
    )
    assert api.get(BASE + "/members/create").json()["member"]["uid"] == "create"
    assert api.delete(BASE + "/members/create").status_code == 200


def test_revoke_keys_stops_every_key_until_rotated(api, funded):
    key = post(api, "/members/create", {"uid": "m1", "plan": "pro"}).json()["member"][
        "api_key"
    ]
    r = post(api, "/members/m1/revoke-keys")
    assert r.status_code == 200 and r.json()["member"]["api_key"] is None
    assert key_owner(key) is None
    new = post(api, "/members/m1/rotate-key").json()["member"]["api_key"]
    assert key_owner(new).uid == "m1"
