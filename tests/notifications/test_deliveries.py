"""Webhook notifications: recorded once, delivered signed to a real receiver on loopback,
retried with backoff, given up after the last attempt, redelivered by hand."""

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection, connections, transaction

from members.models import AuditEvent
from members.selectors import org_settings
from notifications.models import Delivery, DeliveryAttempt, Notification
from notifications.services import deliveries
from notifications.services.deliveries import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    deliveries_retry_due,
    delivery_attempt,
    delivery_redeliver,
)
from notifications.services.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from notifications.services.notify import notify
from notifications.signing import verify
from outbound import http as outbound_http
from tests.notifications.helpers import RENEWED, notify_and_commit, renewed_event
from tests.outbound.stubs import StubResolver, guard_network


def test_a_webhook_is_delivered_once_signed_and_logged(
    endpoint, receiver, eager, frozen, django_capture_on_commit_callbacks
):
    # when
    notification = notify_and_commit(
        django_capture_on_commit_callbacks, **renewed_event()
    )
    # then: one POST, signed with the endpoint's secret, carrying the event
    assert receiver.count() == 1
    got = receiver.received[0]
    assert got.verified
    delivery = Delivery.objects.get(notification=notification)
    assert got.headers["Orgportal-Event"] == RENEWED
    assert got.headers["Orgportal-Delivery"] == str(delivery.pk)
    assert got.headers["User-Agent"] == "orgportal-webhooks/1"
    assert got.json == {
        "id": f"evt_{notification.pk}",
        "type": RENEWED,
        "created_at": "2026-03-01T12:00:00.000Z",
        "data": {"amount": "15.00", "operation_id": 1},
    }
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert delivery.last_status_code == 204
    (attempt,) = delivery.attempt_log.all()
    assert attempt.ok and attempt.number == 1 and not attempt.manual
    # and nothing more is sent, however often the retry sweep runs
    frozen.advance(dt.timedelta(days=1))
    assert deliveries_retry_due() == 0
    assert delivery_attempt(delivery_id=delivery.pk).status == "delivered"
    assert receiver.count() == 1


def test_member_events_carry_the_member(
    endpoint, receiver, alice, eager, django_capture_on_commit_callbacks
):
    # when
    notify_and_commit(
        django_capture_on_commit_callbacks,
        event="member.expired",
        dedupe_key="expired:alice:1",
        data={"expired_at": alice.term_end},
        member=alice,
    )
    # then
    data = receiver.received[0].json["data"]
    assert data == {
        "member": {
            "uid": "alice",
            "full_name": "Alice Liddell",
            "plan": "pro",
            "status": "active",
            "term_start": "2026-03-01T12:00:00.000Z",
            "term_end": "2026-03-31T12:00:00.000Z",
            "auto_renew": True,
        },
        "expired_at": "2026-03-31T12:00:00.000Z",
    }


def test_a_receiver_that_is_down_gets_the_event_once_when_it_is_back(
    endpoint, receiver, eager, frozen, django_capture_on_commit_callbacks
):
    # given: the receiver is down when the event happens
    receiver.stop()
    notification = notify_and_commit(
        django_capture_on_commit_callbacks, **renewed_event()
    )
    delivery = Delivery.objects.get(notification=notification)
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_status_code is None and delivery.last_error
    assert frozen.now() < delivery.next_attempt_at
    assert delivery.next_attempt_at <= frozen.now() + dt.timedelta(
        seconds=BACKOFF_BASE_S
    )
    # when: it comes back on the same port before the backoff has passed
    receiver.start()
    assert deliveries_retry_due() == 0
    assert receiver.count() == 0
    # and the backoff passes
    frozen.advance(dt.timedelta(seconds=BACKOFF_BASE_S + 1))
    assert deliveries_retry_due() == 1
    # then: delivered exactly once, with the same delivery id a receiver dedupes on
    assert receiver.count() == 1 and receiver.received[0].verified
    assert receiver.received[0].headers["Orgportal-Delivery"] == str(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert [a.ok for a in delivery.attempt_log.order_by("number")] == [False, True]
    frozen.advance(dt.timedelta(hours=2))
    assert deliveries_retry_due() == 0
    assert receiver.count() == 1


@pytest.mark.parametrize(
    ("status", "delay_s", "error"),
    [(503, 0, "HTTP 503: receiver says no"), (200, 1.0, "timed out after 0.3 s")],
    ids=["5xx", "timeout"],
)
def test_5xx_and_timeouts_are_failures(
    endpoint, receiver, frozen, settings, status, delay_s, error
):
    # given
    settings.WEBHOOK_TIMEOUT = 0.3
    receiver.status, receiver.delay_s = status, delay_s
    notification = notify(**renewed_event())
    delivery = Delivery.objects.get(notification=notification)
    # when
    delivery = delivery_attempt(delivery_id=delivery.pk)
    # then
    assert receiver.count() == 1
    assert delivery.status == "failed"
    assert delivery.last_error == error
    assert delivery.last_status_code == (status if not delay_s else None)
    (attempt,) = delivery.attempt_log.all()
    assert not attempt.ok and attempt.error == error
    assert frozen.now() < delivery.next_attempt_at


def test_a_redirect_is_not_followed_and_counts_as_a_failure(endpoint, receiver, frozen):
    receiver.status = 302
    notification = notify(**renewed_event())
    delivery = delivery_attempt(delivery_id=notification.deliveries.get().pk)
    assert delivery.status == "failed" and delivery.last_status_code == 302


def test_a_name_that_now_resolves_inside_is_refused_logged_and_retried(
    endpoint, receiver, frozen, settings, monkeypatch
):
    # given: an endpoint under a public-looking name that now resolves to the receiver
    # on loopback, with private targets not allowed
    webhook_endpoint_update(
        endpoint_id=endpoint.pk,
        url=f"http://hooks.example.com:{receiver.port}/hooks/orgportal",
        actor="tests",
    )
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    connects = guard_network(monkeypatch)
    monkeypatch.setattr(
        outbound_http, "resolve", StubResolver({"hooks.example.com": ["127.0.0.1"]})
    )
    receiver.status = 500  # what it would answer, were it asked
    notification = notify(**renewed_event())
    # when
    delivery = delivery_attempt(delivery_id=notification.deliveries.get().pk)
    # then: nothing connected, nothing of an answer kept, and tried again later
    assert receiver.count() == 0 and connects == []
    (attempt,) = delivery.attempt_log.all()
    assert not attempt.ok and attempt.status_code is None
    assert attempt.error == (
        "TARGET_REFUSED: hooks.example.com resolves to 127.0.0.1, a loopback address"
    )
    assert delivery.status == "failed" and delivery.last_status_code is None
    assert delivery.last_error == attempt.error
    assert frozen.now() < delivery.next_attempt_at


def test_a_delivery_is_given_up_after_the_last_attempt(
    endpoint, receiver, frozen, settings
):
    # given: a receiver that always fails, and three attempts allowed
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.status = 500
    notify(**renewed_event())
    # when: the retry sweep runs long enough
    sent = []
    for _ in range(6):
        sent.append(deliveries_retry_due())
        frozen.advance(dt.timedelta(seconds=BACKOFF_CAP_S))
    # then
    assert sent == [1, 1, 1, 0, 0, 0]
    delivery = Delivery.objects.get()
    assert delivery.status == "dead" and delivery.next_attempt_at is None
    assert delivery.attempts == 3 and receiver.count() == 3
    assert delivery_attempt(delivery_id=delivery.pk).attempts == 3


def test_backoff_grows_within_the_jitter_window():
    for attempt in range(1, 15):
        window = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        delays = {deliveries.retry_delay(attempt) for _ in range(50)}
        assert all(
            dt.timedelta(seconds=1) <= d <= dt.timedelta(seconds=window) for d in delays
        )
        assert len(delays) > 1  # jittered, so receivers are not hit all at once


def test_manual_redelivery_sends_again_and_is_logged(
    endpoint, receiver, eager, frozen, settings, django_capture_on_commit_callbacks
):
    # given: one delivered, one given up
    notify_and_commit(django_capture_on_commit_callbacks, **renewed_event(1))
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.status = 500
    notify_and_commit(django_capture_on_commit_callbacks, **renewed_event(2))
    delivered, dead = Delivery.objects.order_by("id")
    dead.refresh_from_db()
    assert (delivered.status, dead.status) == ("delivered", "dead")
    receiver.status = 200
    # when
    again = delivery_redeliver(delivery_id=delivered.pk, actor="staff:ann")
    revived = delivery_redeliver(delivery_id=dead.pk, actor="staff:ann")
    # then
    assert again.status == "delivered" and again.attempts == 2
    assert revived.status == "delivered" and revived.attempts == 2
    assert receiver.count() == 4
    assert receiver.received[2].headers["Orgportal-Delivery"] == str(delivered.pk)
    latest = again.attempt_log.first()
    assert latest.manual and latest.ok and latest.number == 2
    audits = AuditEvent.objects.filter(action="delivery.redeliver").order_by("id")
    assert [
        (a.actor, a.object_id, a.before["status"], a.after["status"]) for a in audits
    ] == [
        ("staff:ann", str(delivered.pk), "delivered", "delivered"),
        ("staff:ann", str(dead.pk), "dead", "delivered"),
    ]


def test_a_failed_redelivery_never_undoes_a_delivery(endpoint, receiver, frozen):
    notification = notify(**renewed_event())
    delivery = delivery_attempt(delivery_id=notification.deliveries.get().pk)
    receiver.stop()
    after = delivery_redeliver(delivery_id=delivery.pk, actor="tests")
    assert after.status == "delivered" and after.attempts == 2
    assert after.last_error and after.next_attempt_at is None
    frozen.advance(dt.timedelta(hours=2))
    assert deliveries_retry_due() == 0


def test_the_same_dedupe_key_records_one_notification(
    endpoint, receiver, eager, settings, django_capture_on_commit_callbacks
):
    # given
    org = org_settings()
    org.notify_emails = "ops@example.com"
    org.save()
    # when: the same event twice, the second inside a transaction that goes on
    first = notify_and_commit(django_capture_on_commit_callbacks, **renewed_event())
    with django_capture_on_commit_callbacks(execute=True) as queued:
        with transaction.atomic():
            second = notify(**renewed_event())
            other = notify(**renewed_event(2))
    # then
    assert first is not None and second is None and other is not None
    assert Notification.objects.count() == 2
    assert first.deliveries.count() == 2  # email + webhook, once
    assert len(queued) == 2  # only the other event's two deliveries were queued
    assert receiver.count() == 2
    assert len(mail.outbox) == 2


def test_notify_in_a_transaction_that_rolls_back_sends_nothing(
    endpoint, receiver, eager, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True) as queued:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                notify(**renewed_event())
                raise RuntimeError("the caller's work failed")
    # then
    assert queued == []
    assert Notification.objects.count() == 0 and Delivery.objects.count() == 0
    assert receiver.count() == 0


def test_endpoints_get_only_the_events_they_subscribed_to(db, receiver, frozen):
    # given
    everything, _ = webhook_endpoint_create(url=receiver.url, actor="tests")
    expiries, _ = webhook_endpoint_create(
        url=receiver.url + "/expiries", events=["member.expired"], actor="tests"
    )
    retired, _ = webhook_endpoint_create(url=receiver.url + "/old", actor="tests")
    webhook_endpoint_update(endpoint_id=retired.pk, active=False, actor="tests")
    # when
    renewed = notify(**renewed_event())
    expired = notify(event="member.expired", dedupe_key="exp", data={})
    # then
    assert {d.endpoint_id for d in renewed.deliveries.all()} == {everything.pk}
    assert {d.endpoint_id for d in expired.deliveries.all()} == {
        everything.pk,
        expiries.pk,
    }


def test_a_deactivated_endpoint_gets_no_retries(endpoint, receiver, frozen):
    # given: a failed delivery waiting for its retry
    receiver.status = 500
    notification = notify(**renewed_event())
    delivery = delivery_attempt(delivery_id=notification.deliveries.get().pk)
    assert delivery.status == "failed"
    # when
    webhook_endpoint_update(endpoint_id=endpoint.pk, active=False, actor="tests")
    frozen.advance(dt.timedelta(hours=2))
    # then
    assert deliveries_retry_due() == 0
    delivery.refresh_from_db()
    assert delivery.status == "dead" and delivery.last_error == "endpoint deactivated"
    assert receiver.count() == 1


def test_retries_are_signed_with_the_rotated_secret(endpoint, receiver, frozen):
    # given: a first attempt signed with the old secret
    old_secret, receiver.status = receiver.secret, 500
    notification = notify(**renewed_event())
    delivery_attempt(delivery_id=notification.deliveries.get().pk)
    # when
    _, new_secret = webhook_endpoint_rotate_secret(
        endpoint_id=endpoint.pk, actor="tests"
    )
    receiver.secret, receiver.status = new_secret, 200
    frozen.advance(dt.timedelta(hours=2))
    deliveries_retry_due()
    # then: the retry verifies with the new secret only
    first, retry = receiver.received
    assert first.verified and retry.verified
    assert new_secret != old_secret
    assert not verify(old_secret, retry.headers["Orgportal-Signature"], retry.body)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_racing_workers_send_a_delivery_once(receiver, eager, frozen, settings):
    # given: a delivery whose first attempt failed and whose retry is now due
    endpoint, receiver.secret = webhook_endpoint_create(url=receiver.url, actor="t")
    receiver.status = 500
    notification = notify(**renewed_event())  # autocommit: its task runs right away
    delivery = Delivery.objects.get(notification=notification)
    assert delivery.status == "failed"
    frozen.advance(dt.timedelta(hours=2))
    receiver.status, receiver.delay_s = 200, 0.2
    workers = 8
    barrier = threading.Barrier(workers)

    def worker():
        barrier.wait()
        try:
            delivery_attempt(delivery_id=delivery.pk)
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then: the retry went out once
    assert receiver.count() == 2
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 2
