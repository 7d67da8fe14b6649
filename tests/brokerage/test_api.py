"""PUT/GET/DELETE /api/organization/members/{uid}/brokerage: every answer, every
refusal, Idempotency-Key, scopes, and no token anywhere it could leak."""

import datetime as dt
import json
import logging

import pytest

from brokerage.models import BrokerageLink
from members.crypto import decrypt
from members.models import AuditEvent, IdempotencyRecord
from orgportal import clock
from tests.brokerage.conftest import ACCOUNTS, access_token, link_body, put

pytestmark = pytest.mark.django_db
BASE = "/api/organization/members"


def url(uid: str) -> str:
    return f"{BASE}/{uid}/brokerage"


def audit_actions() -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="brokerage.")
        .order_by("id")
        .values_list("action", flat=True)
    )


def snapshot() -> tuple:
    return (
        list(BrokerageLink.objects.values()),
        AuditEvent.objects.count(),
    )


# --- link, read, replace, unlink ---------------------------------------------------------


def test_link_then_read_without_tokens(
    api, member, frozen, changed, django_capture_on_commit_callbacks
):
    # given
    body = link_body(access_token=access_token(expires_in=3600))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        r = put(api, member.uid, body)
    # then
    assert r.status_code == 200, r.content
    expected = {
        "account_ids": ACCOUNTS,
        "token_status": "valid",
        "expires_at": "2026-03-01T13:00:00.000Z",
        "refreshed_at": None,
        "linked_at": "2026-03-01T12:00:00.000Z",
        "failure": None,
    }
    assert r.json() == {"success": True, "uid": member.uid, "brokerage": expected}
    assert api.get(url(member.uid)).json()["brokerage"] == expected
    assert audit_actions() == ["brokerage.link"]
    assert changed == [member.pk]


def test_tokens_are_encrypted_at_rest(api, member):
    # given
    body = link_body()
    # when
    put(api, member.uid, body)
    # then
    link = BrokerageLink.objects.get(member=member)
    stored = link.access_token_encrypted + link.refresh_token_encrypted
    assert body["access_token"] not in stored
    assert body["refresh_token"] not in stored
    assert decrypt(link.access_token_encrypted) == body["access_token"]
    assert decrypt(link.refresh_token_encrypted) == body["refresh_token"]


def test_replace_starts_the_link_afresh(
    api, member, frozen, changed, django_capture_on_commit_callbacks
):
    # given a link whose last refresh failed for good
    put(api, member.uid, link_body())
    BrokerageLink.objects.filter(member=member).update(
        failed_at=clock.now(), failure="invalid_grant", failure_at=clock.now()
    )
    assert api.get(url(member.uid)).json()["brokerage"]["token_status"] == "failed"
    frozen.advance(dt.timedelta(minutes=5))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        r = put(
            api,
            member.uid,
            link_body(account_ids=["ACC-9"], refresh_token="rt_second"),
        )
    # then
    out = r.json()["brokerage"]
    assert r.status_code == 200
    assert out["account_ids"] == ["ACC-9"]
    assert out["token_status"] == "valid"
    assert out["failure"] is None
    assert out["linked_at"] == "2026-03-01T12:05:00.000Z"
    assert BrokerageLink.objects.count() == 1
    assert decrypt(BrokerageLink.objects.get().refresh_token_encrypted) == "rt_second"
    assert audit_actions() == ["brokerage.link", "brokerage.replace"]
    replaced = AuditEvent.objects.get(action="brokerage.replace")
    assert replaced.before["account_ids"] == ACCOUNTS
    assert replaced.after["account_ids"] == ["ACC-9"]
    assert changed == [member.pk]


def test_unlink(api, member, changed, django_capture_on_commit_callbacks):
    # given
    put(api, member.uid, link_body())
    # when
    with django_capture_on_commit_callbacks(execute=True):
        r = api.delete(url(member.uid))
    # then
    assert r.status_code == 200
    assert r.json() == {
        "success": True,
        "uid": member.uid,
        "message": "Brokerage link removed",
    }
    assert not BrokerageLink.objects.exists()
    assert audit_actions() == ["brokerage.link", "brokerage.unlink"]
    assert changed == [member.pk]
    again = api.delete(url(member.uid))
    assert again.status_code == 404
    assert again.json()["code"] == "BROKERAGE_NOT_LINKED"


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (dt.timedelta(hours=1), "valid"),
        (dt.timedelta(minutes=10), "expiring"),
        (dt.timedelta(seconds=1), "expiring"),
        (dt.timedelta(0), "expired"),
        (-dt.timedelta(days=1), "expired"),
    ],
)
def test_token_status_follows_the_clock_and_the_window(
    api, member, frozen, settings, left, expected
):
    # given a token that expires in an hour, and a 10-minute "expiring" window
    settings.BROKERAGE_EXPIRING_SECONDS = 600
    put(api, member.uid, link_body(access_token=access_token(expires_in=3600)))
    # when the clock reaches `left` before expiry
    frozen.advance(dt.timedelta(hours=1) - left)
    # then
    assert api.get(url(member.uid)).json()["brokerage"]["token_status"] == expected


def test_an_expired_access_token_may_be_linked(api, member):
    # given an access token that has expired (its refresh token may still be good)
    body = link_body(access_token=access_token(expires_in=-60))
    # when
    r = put(api, member.uid, body)
    # then: accepted, and shown as expired until the refresher renews it
    assert r.status_code == 200
    assert r.json()["brokerage"]["token_status"] == "expired"


# --- refusals ---------------------------------------------------------------------------


def test_read_without_a_link_unknown_and_deleted_members(api, member, deleted_member):
    r = api.get(url(member.uid))
    assert (r.status_code, r.json()["code"]) == (404, "BROKERAGE_NOT_LINKED")
    assert r.json()["success"] is False
    r = api.get(url("nobody"))
    assert (r.status_code, r.json()["code"]) == (404, "MEMBER_NOT_FOUND")
    for response in (
        api.get(url(deleted_member.uid)),
        put(api, deleted_member.uid, link_body()),
        api.delete(url(deleted_member.uid)),
    ):
        assert response.status_code == 410
        assert response.json()["code"] == "MEMBER_DELETED"
    assert not BrokerageLink.objects.exists()


def test_unlink_of_unknown_member_and_of_no_link(api, member):
    r = api.delete(url("nobody"))
    assert (r.status_code, r.json()["code"]) == (404, "MEMBER_NOT_FOUND")
    r = api.delete(url(member.uid))
    assert (r.status_code, r.json()["code"]) == (404, "BROKERAGE_NOT_LINKED")
    assert set(r.json()) == {"success", "error", "code", "details"}


def test_link_of_an_unknown_member(api, db):
    r = put(api, "nobody", link_body())
    assert (r.status_code, r.json()["code"]) == (404, "MEMBER_NOT_FOUND")


BAD_BODIES = {
    "access token is a number": ({"access_token": 12345}, "access_token"),
    "access token is null": ({"access_token": None}, "access_token"),
    "access token is empty": ({"access_token": ""}, "access_token"),
    "access token is not a JWT": ({"access_token": "opaque-token"}, "access_token"),
    "access token has no exp": (
        {"access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"},
        "access_token",
    ),
    "access token too long": ({"access_token": "x" * 5000}, "access_token"),
    "access token with a space": ({"access_token": "a b.c.d"}, "access_token"),
    "refresh token is a number": ({"refresh_token": 7}, "refresh_token"),
    "refresh token is a list": ({"refresh_token": ["rt"]}, "refresh_token"),
    "refresh token is empty": ({"refresh_token": ""}, "refresh_token"),
    "refresh token too long": ({"refresh_token": "r" * 4097}, "refresh_token"),
    "refresh token with NUL": ({"refresh_token": "rt\u0000"}, "refresh_token"),
    "account ids is a string": ({"account_ids": "ACC-1"}, "account_ids"),
    "account ids is empty": ({"account_ids": []}, "account_ids"),
    "account ids has a number": ({"account_ids": ["ACC-1", 2]}, "account_ids"),
    "account ids repeats": ({"account_ids": ["A", "B", "A"]}, "account_ids"),
    "account id too long": ({"account_ids": ["A" * 65]}, "account_ids"),
    "account id empty": ({"account_ids": [""]}, "account_ids"),
    "account id with a space": ({"account_ids": ["ACC 1"]}, "account_ids"),
    "too many accounts": (
        {"account_ids": [f"A{i}" for i in range(101)]},
        "account_ids",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_input_is_a_400_that_changes_nothing(api, member, case):
    # given a link in place
    put(api, member.uid, link_body())
    before = snapshot()
    changes, field = BAD_BODIES[case]
    # when
    r = put(api, member.uid, link_body(**changes))
    # then
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert field in body["details"]
    assert body["error"].startswith(field)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**link_body(), "user_id": "u1"}, "UNKNOWN_FIELD"),
        ({"access_token": "x"}, "VALIDATION_ERROR"),  # the others are required
        ({}, "VALIDATION_ERROR"),
        ([], "VALIDATION_ERROR"),
        ("text", "VALIDATION_ERROR"),
        (None, "VALIDATION_ERROR"),
    ],
)
def test_bad_shapes(api, member, body, code):
    before = snapshot()
    r = put(api, member.uid, body)
    assert (r.status_code, r.json()["code"]) == (400, code)
    assert snapshot() == before


def test_malformed_json_wrong_type_and_oversized_body(api, member, settings):
    path = url(member.uid)
    r = api.put(path, data="{not json", content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_JSON")
    r = api.put(path, data="a=b", content_type="application/x-www-form-urlencoded")
    assert (r.status_code, r.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    r = put(api, member.uid, link_body(refresh_token="r" * 2000))
    assert (r.status_code, r.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert not BrokerageLink.objects.exists()


def test_no_service_token(client, member):
    r = client.get(url(member.uid))
    assert (r.status_code, r.json()["code"]) == (401, "UNAUTHORIZED")


def test_scopes(scoped_api, member):
    reader, changer = scoped_api("read"), scoped_api("members")
    r = put(reader, member.uid, link_body())
    assert (r.status_code, r.json()["details"]["required"]) == (403, "members")
    assert put(changer, member.uid, link_body()).status_code == 200
    r = changer.get(url(member.uid))
    assert (r.status_code, r.json()["details"]["required"]) == (403, "read")
    assert reader.get(url(member.uid)).status_code == 200
    r = reader.delete(url(member.uid))
    assert (r.status_code, r.json()["code"]) == (403, "INSUFFICIENT_SCOPE")
    assert changer.delete(url(member.uid)).status_code == 200


def test_unsupported_methods(api, member):
    r = api.post(url(member.uid), data="{}", content_type="application/json")
    assert r.status_code in (403, 405)  # no scope is defined for it: refused either way
    assert r.json()["success"] is False


# --- Idempotency-Key --------------------------------------------------------------------


def test_put_replays_and_detects_a_different_body(api, member, frozen):
    # given
    body = link_body()
    first = put(api, member.uid, body, HTTP_IDEMPOTENCY_KEY="link-1")
    frozen.advance(dt.timedelta(minutes=1))
    # when: the same key with the same body, then with another
    replay = put(api, member.uid, body, HTTP_IDEMPOTENCY_KEY="link-1")
    conflict = put(
        api,
        member.uid,
        link_body(account_ids=["OTHER"]),
        HTTP_IDEMPOTENCY_KEY="link-1",
    )
    # then
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert audit_actions() == ["brokerage.link"]
    assert (conflict.status_code, conflict.json()["code"]) == (
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    assert BrokerageLink.objects.get().account_ids == ACCOUNTS


def test_delete_replays_its_answer(api, member):
    # given
    put(api, member.uid, link_body())
    first = api.delete(url(member.uid), HTTP_IDEMPOTENCY_KEY="unlink-1")
    # when
    replay = api.delete(url(member.uid), HTTP_IDEMPOTENCY_KEY="unlink-1")
    # then: the first answer, not a 404, and nothing unlinked twice
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert audit_actions() == ["brokerage.link", "brokerage.unlink"]


def test_a_key_used_for_put_conflicts_on_delete(api, member):
    put(api, member.uid, link_body(), HTTP_IDEMPOTENCY_KEY="k")
    r = api.delete(url(member.uid), HTTP_IDEMPOTENCY_KEY="k")
    assert (r.status_code, r.json()["code"]) == (409, "IDEMPOTENCY_CONFLICT")
    assert BrokerageLink.objects.exists()


def test_a_bad_idempotency_key(api, member):
    r = put(api, member.uid, link_body(), HTTP_IDEMPOTENCY_KEY=" ")
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    assert not BrokerageLink.objects.exists()


# --- no token anywhere ----------------------------------------------------------------


def test_no_token_in_any_response_audit_row_or_log(api, member, caplog):
    # given
    caplog.set_level(logging.DEBUG)
    body = link_body()
    secrets = (body["access_token"], body["refresh_token"])
    # when
    texts = [
        put(api, member.uid, body, HTTP_IDEMPOTENCY_KEY="a").content,
        put(api, member.uid, body, HTTP_IDEMPOTENCY_KEY="a").content,
        put(api, member.uid, link_body(access_token=12)).content,
        api.get(url(member.uid)).content,
        api.get("/api/schema/").content,
        api.delete(url(member.uid), HTTP_IDEMPOTENCY_KEY="b").content,
        api.delete(url(member.uid), HTTP_IDEMPOTENCY_KEY="b").content,
    ]
    # then
    audit = json.dumps(list(AuditEvent.objects.values("before", "after")))
    stored = json.dumps(
        list(IdempotencyRecord.objects.values("response_encrypted")), default=str
    )
    for secret in secrets:
        for text in texts:
            assert secret.encode() not in text
        assert secret not in audit
        assert secret not in stored
        assert secret not in caplog.text


# --- the OpenAPI document ---------------------------------------------------------------


def test_the_schema_documents_the_three_operations(client, db):
    schema = client.get("/api/schema/?format=json").json()
    path = schema["paths"]["/api/organization/members/{uid}/brokerage"]
    assert set(path) >= {"get", "put", "delete"}
    for method in ("put", "delete"):
        names = [p["name"] for p in path[method]["parameters"]]
        assert "Idempotency-Key" in names
    assert path["put"]["security"] == [{"serviceToken": ["members"]}]
    assert path["get"]["security"] == [{"serviceToken": ["read"]}]
    for method in ("get", "put", "delete"):
        assert {"400", "401", "403", "404", "410"} <= set(path[method]["responses"])
    request = schema["components"]["schemas"]["LinkInRequest"]
    assert set(request["required"]) == {"access_token", "refresh_token", "account_ids"}
    out = schema["components"]["schemas"]["LinkOut"]["properties"]
    assert {"account_ids", "token_status", "expires_at", "refreshed_at"} <= set(out)
    assert "access_token" not in out and "refresh_token" not in out
