"""Webhook signatures as a receiver checks them, and the REST API for endpoints, the
notification and delivery logs, and redelivery."""

import json
import time

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import patched_settings

from members.crypto import decrypt
from members.models import AuditEvent, IdempotencyRecord
from notifications.models import Delivery, WebhookEndpoint
from notifications.payloads import WEBHOOK_IMPORT_PATHS
from notifications.services.deliveries import delivery_attempt
from notifications.services.notify import notify
from notifications.signing import sign, verify
from tests.rest import BASE, send

SECRET = "whsec_test-secret"
BODY = b'{"id":"evt_1","type":"member.renewed","data":{"amount":"15.00"}}'


# --- signatures ---------------------------------------------------------------------------


def test_a_signature_verifies_for_the_exact_body_and_secret():
    t = int(time.time())
    header = sign(SECRET, BODY, t)
    assert header.startswith(f"t={t},v1=")
    assert verify(SECRET, header, BODY)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    # A receiver in another language computes exactly this.
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256)
    assert sign(SECRET, BODY, 1_700_000_000) == (
        f"t=1700000000,v1={expected.hexdigest()}"
    )


@pytest.mark.parametrize(
    ("secret", "body", "header_of"),
    [
        (SECRET, BODY.replace(b"15.00", b"99.00"), "tampered body"),
        ("whsec_other", BODY, "wrong secret"),
        (SECRET, BODY, "v1 only"),
        (SECRET, BODY, "t only"),
        (SECRET, BODY, "garbage"),
        (SECRET, BODY, "empty"),
        (SECRET, BODY, "non-numeric t"),
    ],
)
def test_verify_refuses_what_was_not_signed(secret, body, header_of):
    t = int(time.time())
    good = sign(SECRET, BODY, t)
    header = {
        "tampered body": good,
        "wrong secret": good,
        "v1 only": good.split(",")[1],
        "t only": good.split(",")[0],
        "garbage": "nonsense",
        "empty": "",
        "non-numeric t": good.replace(f"t={t}", "t=soon"),
    }[header_of]
    assert not verify(secret, header, body)


def test_verify_refuses_a_stale_or_future_timestamp():
    now = 1_800_000_000
    old = sign(SECRET, BODY, now - 301)
    assert not verify(SECRET, old, BODY, now=now)
    assert verify(SECRET, old, BODY, now=now, tolerance_s=600)
    assert not verify(SECRET, sign(SECRET, BODY, now + 301), BODY, now=now)
    assert verify(SECRET, sign(SECRET, BODY, now - 299), BODY, now=now)


def test_verify_accepts_any_matching_v1_during_a_rotation():
    t = int(time.time())
    old = sign("whsec_old", BODY, t).split(",")[1]
    header = f"{sign(SECRET, BODY, t)},{old}"
    assert verify(SECRET, header, BODY)
    assert verify("whsec_old", header, BODY)
    assert not verify("whsec_third", header, BODY)


# --- REST API -----------------------------------------------------------------------------


def create_endpoint(api, receiver, **fields):
    r = send(api, "post", "/webhooks", {"url": receiver.url, **fields})
    assert r.status_code == 201, r.json()
    receiver.secret = r.json()["secret"]
    return r.json()["webhook"]


def test_creating_an_endpoint_shows_its_secret_once(api, receiver):
    fields = {
        "url": receiver.url,
        "description": "billing backend",
        "events": ["member.expired", "member.renewed"],
    }
    once = {"Idempotency-Key": "create-1"}

    # when
    r = send(api, "post", "/webhooks", fields, **once)
    # then
    assert r.status_code == 201
    body = r.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    webhook = body["webhook"]
    assert webhook["events"] == ["member.renewed", "member.expired"]
    assert webhook["active"] is True and "secret" not in webhook
    stored = WebhookEndpoint.objects.get(pk=webhook["id"])
    assert secret not in stored.secret_encrypted
    assert decrypt(stored.secret_encrypted) == secret
    # and never again: not in reads, not in a replay, not in the audit or the key store
    listed = api.get(BASE + "/webhooks").json()
    assert listed["webhooks"] == [webhook]
    assert secret not in json.dumps(listed)
    assert secret not in json.dumps(api.get(f"{BASE}/webhooks/{webhook['id']}").json())
    replay = send(api, "post", "/webhooks", fields, **once)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"]
    assert replay.json()["webhook"] == webhook
    # a client that lost the first answer still learns the secret...
    assert replay.json()["secret"] == secret
    assert WebhookEndpoint.objects.count() == 1
    # ...which is stored only encrypted
    stored_text = json.dumps(
        list(AuditEvent.objects.values("before", "after"))
        + list(IdempotencyRecord.objects.values("response_encrypted"))
    )
    assert secret not in stored_text


def test_rotating_the_secret_returns_a_new_one(api, receiver):
    webhook = create_endpoint(api, receiver)
    r = send(api, "post", f"/webhooks/{webhook['id']}/rotate-secret")
    assert r.status_code == 200
    assert r.json()["secret"].startswith("whsec_")
    assert r.json()["secret"] != receiver.secret
    assert AuditEvent.objects.filter(action="webhook.rotate_secret").count() == 1


def test_updating_an_endpoint(api, receiver):
    webhook = create_endpoint(api, receiver, events=["member.expired"])
    r = send(
        api,
        "patch",
        f"/webhooks/{webhook['id']}",
        {"url": "https://hooks.example.com/in", "events": [], "active": False},
    )
    assert r.status_code == 200, r.json()
    assert r.json()["webhook"] | {"updated_at": None} == webhook | {
        "url": "https://hooks.example.com/in",
        "events": [],
        "active": False,
        "updated_at": None,
    }
    audit = AuditEvent.objects.get(action="webhook.update")
    assert audit.before["active"] is True and audit.after["active"] is False


def test_deleting_an_endpoint_keeps_one_with_a_delivery_log(api, receiver, frozen):
    # given: one endpoint never used, one with a delivery
    unused = create_endpoint(api, receiver, events=["org.low_balance"])
    used = create_endpoint(api, receiver, events=["member.renewed"])
    notify(event="member.renewed", dedupe_key="r1", data={"amount": "15.00"})
    # when
    r1 = send(api, "delete", f"/webhooks/{unused['id']}")
    r2 = send(api, "delete", f"/webhooks/{used['id']}")
    # then
    assert r1.json() == {"success": True, "id": unused["id"], "deactivated": False}
    assert r2.json() == {"success": True, "id": used["id"], "deactivated": True}
    assert api.get(f"{BASE}/webhooks/{unused['id']}").status_code == 404
    kept = api.get(f"{BASE}/webhooks/{used['id']}").json()["webhook"]
    assert kept["active"] is False
    assert Delivery.objects.get().status == "dead"


def test_deliveries_are_listed_with_their_attempts_and_can_be_redelivered(
    api, receiver, frozen
):
    # given: a delivery whose one attempt failed
    webhook = create_endpoint(api, receiver)
    receiver.status = 500
    notification = notify(
        event="member.renewed", dedupe_key="r1", data={"amount": "15.00"}
    )
    delivery = delivery_attempt(delivery_id=notification.deliveries.get().pk)
    # when: listed
    r = api.get(BASE + "/deliveries?status=failed&event=member.renewed")
    # then
    assert r.status_code == 200
    (listed,) = r.json()["deliveries"]
    assert listed["id"] == delivery.pk and listed["endpoint_id"] == webhook["id"]
    assert listed["notification_id"] == f"evt_{notification.pk}"
    assert listed["status"] == "failed" and listed["last_status_code"] == 500
    assert [
        (a["number"], a["ok"], a["status_code"]) for a in listed["attempt_log"]
    ] == [(1, False, 500)]
    assert api.get(BASE + "/deliveries?status=delivered").json()["deliveries"] == []
    assert (
        api.get(f"{BASE}/deliveries?endpoint={webhook['id'] + 1}").json()["deliveries"]
        == []
    )
    # when: redelivered by hand, twice with one Idempotency-Key
    receiver.status = 200
    key = {"Idempotency-Key": "redeliver-1"}
    r = send(api, "post", f"/deliveries/{delivery.pk}/redeliver", **key)
    again = send(api, "post", f"/deliveries/{delivery.pk}/redeliver", **key)
    # then: one more send, logged as manual; the replay sends nothing
    assert r.status_code == 200, r.json()
    out = r.json()["delivery"]
    assert out["status"] == "delivered" and out["attempts"] == 2
    assert out["attempt_log"][0]["manual"] is True and out["attempt_log"][0]["ok"]
    assert again.json() == r.json() and again.headers["Idempotent-Replayed"]
    assert receiver.count() == 2 and receiver.received[1].verified
    audit = AuditEvent.objects.get(action="delivery.redeliver")
    assert audit.actor == "token:tests"


def test_notifications_are_listed_with_their_deliveries(api, receiver, alice_member):
    # given
    create_endpoint(api, receiver)
    for n in range(3):
        notify(
            event="member.renewed",
            dedupe_key=f"r{n}",
            data={"amount": "15.00"},
            member=alice_member,
        )
    notify(event="org.low_balance", dedupe_key="low", data={"balance": "1.00"})
    # when: two at a time
    first = api.get(BASE + "/notifications?event=member.renewed&limit=2").json()
    rest = api.get(
        f"{BASE}/notifications?event=member.renewed&limit=2&cursor="
        f"{first['next_cursor']}"
    ).json()
    # then
    page = first["notifications"] + rest["notifications"]
    assert [n["dedupe_key"] for n in page] == ["r2", "r1", "r0"]
    assert rest["next_cursor"] is None
    assert {n["member"] for n in page} == {"alice"}
    assert page[0]["data"]["member"]["uid"] == "alice"
    assert page[0]["deliveries"][0]["status"] == "pending"
    by_uid = api.get(BASE + "/notifications?uid=alice").json()["notifications"]
    assert len(by_uid) == 3
    everything = api.get(BASE + "/notifications").json()["notifications"]
    assert everything[0]["event"] == "org.low_balance"
    assert everything[0]["member"] is None


@pytest.fixture
def alice_member(funded, frozen):
    from members.services import operations

    return operations.member_create(uid="alice", plan="pro", actor="tests").member


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        (
            "post",
            "/webhooks",
            {"url": "ftp://example.com/x"},
            400,
            "INVALID_WEBHOOK_URL",
        ),
        ("post", "/webhooks", {"url": "https://"}, 400, "INVALID_WEBHOOK_URL"),
        (
            "post",
            "/webhooks",
            {"url": "http://a b.example"},
            400,
            "INVALID_WEBHOOK_URL",
        ),
        ("post", "/webhooks", {"url": "http://x:99999/"}, 400, "INVALID_WEBHOOK_URL"),
        ("post", "/webhooks", {"url": "not a url"}, 400, "INVALID_WEBHOOK_URL"),
        (
            "post",
            "/webhooks",
            {"url": "https://example.com", "events": ["member.bought_a_yacht"]},
            400,
            "UNKNOWN_EVENT",
        ),
        (
            "post",
            "/webhooks",
            {"url": "https://example.com", "events": "member.renewed"},
            400,
            "VALIDATION_ERROR",
        ),
        ("post", "/webhooks", {"url": 42}, 400, "VALIDATION_ERROR"),
        ("post", "/webhooks", [], 400, "VALIDATION_ERROR"),
        ("post", "/webhooks", None, 400, "VALIDATION_ERROR"),
        ("patch", "/webhooks/1", {}, 400, "VALIDATION_ERROR"),
        ("patch", "/webhooks/999", {"active": False}, 404, "WEBHOOK_NOT_FOUND"),
        ("delete", "/webhooks/999", None, 404, "WEBHOOK_NOT_FOUND"),
        ("post", "/webhooks/999/rotate-secret", None, 404, "WEBHOOK_NOT_FOUND"),
        ("get", "/webhooks/999", None, 404, "WEBHOOK_NOT_FOUND"),
        ("post", "/deliveries/999/redeliver", None, 404, "DELIVERY_NOT_FOUND"),
        ("get", "/deliveries?status=lost", None, 400, "VALIDATION_ERROR"),
        ("get", "/deliveries?endpoint=x", None, 400, "VALIDATION_ERROR"),
        ("get", "/deliveries?cursor=c99999999999999999", None, 200, None),
        ("get", "/notifications?cursor=abc", None, 400, "VALIDATION_ERROR"),
        ("get", "/notifications?event=member.nope", None, 400, "VALIDATION_ERROR"),
        ("get", "/notifications?limit=0", None, 400, "VALIDATION_ERROR"),
    ],
)
def test_bad_input_is_a_400_with_a_code_never_a_500(
    api, method, path, body, status, code
):
    r = send(api, method, path, body)
    assert r.status_code == status, r.content
    if code:
        assert r.json()["code"] == code
        assert r.json()["error"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:6379/", "127.0.0.1 is a loopback address"),
        ("http://2130706433/", "2130706433 is 127.0.0.1, a loopback address"),
        ("http://0x7f.1/", "0x7f.1 is 127.0.0.1, a loopback address"),
        (
            "http://[::ffff:10.0.0.5]/",
            "::ffff:10.0.0.5 reaches 10.0.0.5, a private address",
        ),
        ("http://10.1.2.3/", "10.1.2.3 is a private address"),
        (
            "http://169.254.169.254/latest/",
            "169.254.169.254 is a cloud metadata address",
        ),
        (
            "http://metadata.google.internal/",
            "metadata.google.internal is a cloud metadata name",
        ),
        ("http://localhost:6379", "localhost is a loopback name"),
        ("https://user:pass@hooks.example.com/", "no user name or password in the URL"),
    ],
)
def test_internal_targets_are_refused_by_the_api_naming_the_reason(
    api, settings, url, reason
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    r = send(api, "post", "/webhooks", {"url": url})
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "INVALID_WEBHOOK_URL"
    assert r.json()["error"] == f"Invalid webhook URL: {reason}"
    assert r.json()["details"] == {"url": [reason]}
    assert WebhookEndpoint.objects.count() == 0


def test_an_endpoint_cannot_be_moved_to_an_internal_target(api, receiver, settings):
    # given: an endpoint on the loopback receiver, saved while that was allowed
    webhook = create_endpoint(api, receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    # when
    r = send(api, "patch", f"/webhooks/{webhook['id']}", {"url": "http://0177.1/x"})
    # then
    assert r.status_code == 400 and r.json()["code"] == "INVALID_WEBHOOK_URL"
    assert r.json()["details"] == {"url": ["0177.1 is 127.0.0.1, a loopback address"]}
    assert WebhookEndpoint.objects.get().url == receiver.url


def test_private_targets_are_accepted_when_allowed_but_never_metadata(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    ok = send(api, "post", "/webhooks", {"url": "http://10.0.0.5:9000/hook"})
    assert ok.status_code == 201, ok.content
    r = send(api, "post", "/webhooks", {"url": "http://169.254.169.254/latest/"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_WEBHOOK_URL"


def test_malformed_json_is_a_400(api):
    r = api.post(BASE + "/webhooks", data="{nope", content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "INVALID_JSON"


def test_redelivery_to_a_deactivated_endpoint_is_refused(api, receiver, frozen):
    webhook = create_endpoint(api, receiver)
    notification = notify(event="member.renewed", dedupe_key="r1", data={})
    send(api, "patch", f"/webhooks/{webhook['id']}", {"active": False})
    r = send(api, "post", f"/deliveries/{notification.deliveries.get().pk}/redeliver")
    assert r.status_code == 409 and r.json()["code"] == "ENDPOINT_INACTIVE"
    assert receiver.count() == 0


def test_the_api_needs_a_service_token(client, db):
    assert client.get(BASE + "/webhooks").status_code == 401
    assert client.get(BASE + "/deliveries").status_code == 401


# --- OpenAPI ------------------------------------------------------------------------------


def test_the_schema_describes_every_webhook_payload():
    # given: the webhooks as SPECTACULAR_SETTINGS lists them (OpenAPI 3.1)
    with patched_settings({"WEBHOOKS": WEBHOOK_IMPORT_PATHS, "OAS_VERSION": "3.1.0"}):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    # then
    components = schema["components"]["schemas"]

    def data_of(event):
        body = schema["webhooks"][event]["post"]["requestBody"]["content"]
        envelope = components[body["application/json"]["schema"]["$ref"].split("/")[-1]]
        assert set(envelope["required"]) == {"id", "type", "created_at", "data"}
        return components[envelope["properties"]["data"]["$ref"].split("/")[-1]]

    expected = {
        "member.renewal_due": {"member", "days_before", "price", "auto_renew"},
        "member.renewed": {
            "member",
            "amount",
            "term_start",
            "term_end",
            "operation_id",
        },
        "member.renewal_failed": {
            "member",
            "reason",
            "message",
            "needed",
            "available",
        },
        "member.expired": {"member", "expired_at"},
        "org.low_balance": {
            "balance",
            "available",
            "forecast",
            "renewals",
            "window_days",
            "shortfall",
        },
        "member.quota_exceeded": {"member", "quota", "used", "month"},
    }
    assert set(schema["webhooks"]) == set(expected)
    for event, fields in expected.items():
        assert set(data_of(event)["properties"]) == fields
    member = components["EventMember"]["properties"]
    assert set(member) == {
        "uid",
        "full_name",
        "plan",
        "status",
        "term_start",
        "term_end",
        "auto_renew",
    }
