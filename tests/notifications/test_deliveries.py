"""Notifications: recorded once, delivered by email and signed webhooks to a real receiver
on loopback, retried with backoff, given up after the last attempt, redelivered by hand."""

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection, connections, transaction

from members.models import AuditEvent
from members.selectors import org_settings
from members.services import operations
from notifications.email import email_message
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
from tests.notifications.webhook_receiver import Receiver
from tests.outbound.stubs import StubResolver, guard_network

RENEWED = "member.renewed"


@pytest.fixture
def receiver(settings):
    # The receiver listens on loopback, an internal address: sending to it takes the
    # development setting (the default refuses it).
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def eager(settings):
    """Tasks queued after commit run at once, in this process, as a worker would."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def endpoint(db, receiver):
    created, secret = webhook_endpoint_create(url=receiver.url, actor="tests")
    receiver.secret = secret
    return created


@pytest.fixture
def alice(funded, frozen):
    return operations.member_create(
        uid="alice", plan="pro", full_name="Alice Liddell", actor="tests"
    ).member


def renewed_event(n: int = 1, **extra):
    return {
        "event": RENEWED,
        "dedupe_key": f"renewed:alice:{n}",
        "data": {"amount": "15.00", "operation_id": n, **extra},
    }


def notify_and_commit(capture, **kwargs):
    """notify() in a transaction of its own; tasks queued on commit run."""
    with capture(execute=True):
        with transaction.atomic():
            return notify(**kwargs)


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


def test_email_goes_to_the_organisation_list(
    alice, eager, settings, django_capture_on_commit_callbacks
):
    # given
    settings.DEFAULT_FROM_EMAIL = "orgportal@example.com"
    org = org_settings()
    org.notify_emails = "ops@example.com, billing@example.com"
    org.save()
    # when
    notification = notify_and_commit(
        django_capture_on_commit_callbacks,
        event=RENEWED,
        dedupe_key="renewed:alice:1",
        data={
            "amount": "15.00",
            "term_start": alice.term_end,
            "term_end": alice.term_end + dt.timedelta(days=30),
            "operation_id": 7,
        },
        member=alice,
    )
    # then
    (email,) = mail.outbox
    assert email.subject == "[orgportal] Member alice renewed on pro"
    assert email.to == ["ops@example.com", "billing@example.com"]
    assert email.from_email == "orgportal@example.com"
    assert "Member alice (Alice Liddell) was renewed on pro for 15.00 credits" in (
        email.body
    )
    assert "2026-03-31 12:00 UTC to 2026-04-30 12:00 UTC" in email.body
    assert f"evt_{notification.pk}" in email.body
    delivery = notification.deliveries.get()
    assert (delivery.channel, delivery.status) == ("email", "delivered")


def test_email_goes_to_the_whole_list_as_it_stands_when_sent(db, frozen):
    # given: an event recorded for one address, and the list changed before it is sent
    org = org_settings()
    org.notify_emails = "typo@exmaple.com"
    org.save()
    notification = notify(**renewed_event())
    addresses = [f"finance-team-{n:02d}@example.com" for n in range(60)]
    org.notify_emails = ",".join(addresses)
    org.save()
    # when
    delivery = delivery_attempt(delivery_id=notification.deliveries.get().pk)
    # then: every address, even past what the log column holds
    (email,) = mail.outbox
    assert email.to == addresses
    assert delivery.status == "delivered"
    assert delivery.destination.startswith("finance-team-00@example.com, ")
    assert len(delivery.destination) == 1000


def test_no_email_delivery_without_recipients(db):
    notification = notify(**renewed_event())
    assert notification.deliveries.count() == 0
    assert mail.outbox == []


def test_a_failing_mail_server_is_a_failed_attempt(db, frozen, settings):
    # given: SMTP on a loopback port where nothing listens
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _closed_port()
    org = org_settings()
    org.notify_emails = "ops@example.com"
    org.save()
    notification = notify(**renewed_event())
    # when
    delivery = delivery_attempt(delivery_id=notification.deliveries.get().pk)
    # then
    assert delivery.status == "failed"
    assert "ConnectionRefusedError" in delivery.last_error


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


MEMBER = {
    "uid": "alice",
    "full_name": "Alice Liddell",
    "plan": "pro",
    "status": "active",
    "term_start": "2026-03-01T12:00:00Z",
    "term_end": "2026-03-31T12:00:00Z",
    "auto_renew": True,
}


@pytest.mark.parametrize(
    ("event", "data", "subject", "says"),
    [
        (
            "member.renewal_due",
            {"member": MEMBER, "days_before": 3, "price": "15.00", "auto_renew": True},
            "Member alice's pro term ends in 3 days",
            "renewed automatically for 15.00 credits",
        ),
        (
            "member.renewal_failed",
            {
                "member": MEMBER,
                "reason": "INSUFFICIENT_CREDITS",
                "message": "Not enough credits",
                "needed": "15.00",
                "available": "2.50",
            },
            "Renewal failed for member alice on pro",
            "It needs 15.00 credits; 2.50 are available",
        ),
        (
            "member.expired",
            {"member": MEMBER, "expired_at": "2026-03-31T12:00:00Z"},
            "Member alice expired",
            "ended at 2026-03-31 12:00 UTC and was not renewed",
        ),
        (
            "org.low_balance",
            {
                "balance": "12.50",
                "available": "12.50",
                "forecast": "40.00",
                "window_days": 7,
                "shortfall": "27.50",
            },
            "Low credit balance: 12.50 available, 40.00 needed in the next 7 days",
            "27.50 short",
        ),
        (
            "member.quota_exceeded",
            {"member": MEMBER, "quota": 10000, "used": 10001, "month": "2026-03"},
            "Member alice used its monthly quota",
            "used 10001 of its 10000 monthly requests in 2026-03",
        ),
    ],
)
def test_each_email_says_what_happened(event, data, subject, says):
    got_subject, body = email_message(
        event=event, data=data, notification_id=5, created_at="2026-03-01T12:00:00Z"
    )
    assert got_subject == "[orgportal] " + subject
    assert says in body
    assert "?" not in got_subject + body.split("\n\nDetails:")[0]
    assert "Id: evt_5" in body
