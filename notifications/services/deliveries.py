"""Sending notifications' deliveries, by email and to webhook endpoints, with a log of
every attempt.

Sending happens after the recording transaction commits, in a worker, never inside a
transaction: each send first claims its delivery with one conditional UPDATE that counts
the attempt and takes a lease, so racing workers never send the same attempt twice.
Deliveries are at-least-once (a worker that dies mid-send is retried when its lease runs
out); receivers dedupe on the delivery id.
"""

import datetime as dt
import json
import random
import time

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import transaction
from django.db.models import F

from members.crypto import decrypt
from members.errors import Conflict
from members.selectors import org_settings
from members.services.audit import audit_record
from notifications import signing
from notifications.email import email_destination, email_message
from notifications.models import Delivery, DeliveryAttempt, Notification
from notifications.selectors import delivery_get
from orgportal import clock

RETRYABLE = (Delivery.Status.PENDING, Delivery.Status.FAILED)
# Backoff between automatic attempts, in seconds: full jitter over an exponential window.
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600
# Never sooner than this, so a receiver that fails at once is not retried in a loop.
BACKOFF_MIN_S = 1
# deliveries_retry_due stops starting sends after this long, under its task's soft time
# limit; whatever is left stays due for the next beat.
RETRY_BUDGET_S = 200


def _lease() -> dt.timedelta:
    # Longer than one send can take, so a live attempt never loses its claim; a worker
    # that died mid-send frees the delivery when it runs out.
    return dt.timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT + 30)


def retry_delay(attempt: int) -> dt.timedelta:
    """Wait after failed attempt number `attempt` (1-based): uniform over
    [0, min(cap, base·2^(attempt-1))] seconds, so receivers coming back up are not hit by
    every sender at once."""
    window = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, min(attempt - 1, 20)))
    return dt.timedelta(seconds=max(BACKOFF_MIN_S, random.uniform(0, window)))


def webhook_body(notification: Notification) -> bytes:
    """The exact bytes POSTed (and signed) for a notification."""
    return json.dumps(
        {
            "id": f"evt_{notification.pk}",
            "type": notification.event,
            "created_at": clock.iso(notification.created_at),
            "data": notification.payload,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def _claim(*, delivery_id: int, manual: bool) -> Delivery | None:
    """Count the attempt and take the lease, or None if it is not this caller's to send.

    The UPDATE's WHERE names only the delivery's own columns: on PostgreSQL a racing
    UPDATE waits for the row lock and then re-checks them against the committed row, so
    exactly one of two racers matches."""
    now = clock.now()
    with transaction.atomic():
        rows = Delivery.objects.filter(pk=delivery_id)
        if not manual:
            rows = rows.filter(
                status__in=RETRYABLE,
                next_attempt_at__lte=now,
                attempts__lt=settings.WEBHOOK_MAX_ATTEMPTS,
            )
        if not rows.update(attempts=F("attempts") + 1, next_attempt_at=now + _lease()):
            return None
        # Read in the same transaction: the row is ours until commit, so `attempts` is
        # this attempt's number.
        return Delivery.objects.select_related("notification", "endpoint").get(
            pk=delivery_id
        )


def _send_email(delivery: Delivery) -> signing.Sent:
    notification = delivery.notification
    subject, body = email_message(
        event=notification.event,
        data=notification.payload,
        notification_id=notification.pk,
        created_at=clock.iso(notification.created_at),
    )
    # Today's list, so a retry reaches the addresses an admin has since corrected.
    recipients = org_settings().email_list
    if not recipients:
        return signing.Sent(
            ok=False,
            status_code=None,
            error="no notification email addresses are configured",
            duration_ms=0,
        )
    delivery.destination = email_destination(recipients)
    started = time.monotonic()
    error = ""
    try:
        connection = get_connection(timeout=settings.WEBHOOK_TIMEOUT)
        send_mail(
            subject,
            body,
            settings.DEFAULT_FROM_EMAIL,
            recipients,
            connection=connection,
        )
    except Exception as exc:
        # SMTP, DNS and socket failures alike are this attempt failing.
        error = f"{type(exc).__name__}: {exc}"
    return signing.Sent(
        ok=not error,
        status_code=None,
        error=error[:500],
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _send_webhook(delivery: Delivery) -> signing.Sent:
    # A target refused for where it resolves (TARGET_REFUSED) is an ordinary failed
    # attempt and is retried: DNS answers and WEBHOOK_ALLOW_PRIVATE_TARGETS can change
    # before the next one, every retry checks again, and a refused attempt connects to
    # nothing, so retrying costs one lookup.
    endpoint = delivery.endpoint
    try:
        secret = decrypt(endpoint.secret_encrypted)
    except ValueError as exc:
        return signing.Sent(ok=False, status_code=None, error=str(exc), duration_ms=0)
    return signing.post(
        url=endpoint.url,
        secret=secret,
        body=webhook_body(delivery.notification),
        event=delivery.notification.event,
        delivery_id=delivery.pk,
    )


def _record(delivery: Delivery, sent: signing.Sent, *, manual: bool, started_at):
    now = clock.now()
    last = {
        "last_status_code": sent.status_code,
        "last_error": sent.error,
        "destination": delivery.endpoint.url
        if delivery.endpoint
        else delivery.destination,
    }
    rows = Delivery.objects.filter(pk=delivery.pk)
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            manual=manual,
            ok=sent.ok,
            status_code=sent.status_code,
            error=sent.error,
            duration_ms=sent.duration_ms,
            started_at=started_at,
        )
        if sent.ok:
            rows.update(
                status=Delivery.Status.DELIVERED,
                delivered_at=now,
                next_attempt_at=None,
                **last,
            )
            return
        # A failed attempt never undoes a success another attempt recorded.
        rows.filter(status=Delivery.Status.DELIVERED).update(
            next_attempt_at=None, **last
        )
        if (
            delivery.status == Delivery.Status.DEAD
            or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS
        ):
            rows.exclude(status=Delivery.Status.DELIVERED).update(
                status=Delivery.Status.DEAD, next_attempt_at=None, **last
            )
        else:
            rows.exclude(status=Delivery.Status.DELIVERED).update(
                status=Delivery.Status.FAILED,
                next_attempt_at=now + retry_delay(delivery.attempts),
                **last,
            )


def _attempt(*, delivery_id: int, manual: bool) -> tuple[Delivery, bool]:
    delivery = _claim(delivery_id=delivery_id, manual=manual)
    if delivery is None:
        return delivery_get(delivery_id), False
    started_at = clock.now()
    if delivery.channel == Delivery.Channel.EMAIL:
        sent = _send_email(delivery)
    else:
        sent = _send_webhook(delivery)
    _record(delivery, sent, manual=manual, started_at=started_at)
    delivery.refresh_from_db()
    return delivery, True


def delivery_attempt(*, delivery_id: int, manual: bool = False) -> Delivery:
    """Send one delivery if it is due (or `manual`), recording the attempt. Returns the
    delivery as it stands afterwards; when another worker holds it or it is not due,
    nothing is sent."""
    return _attempt(delivery_id=delivery_id, manual=manual)[0]


def deliveries_retry_due(*, limit: int = 500) -> int:
    """Attempt the deliveries that are due, oldest first; returns how many were sent
    (successfully or not)."""
    now = clock.now()
    # A worker that died on the last allowed attempt leaves a delivery with no attempts
    # left; when its lease has run out, it is given up.
    Delivery.objects.filter(
        status__in=RETRYABLE,
        next_attempt_at__lte=now,
        attempts__gte=settings.WEBHOOK_MAX_ATTEMPTS,
    ).update(status=Delivery.Status.DEAD, next_attempt_at=None)
    due = list(
        Delivery.objects.filter(
            status__in=RETRYABLE,
            next_attempt_at__lte=now,
            attempts__lt=settings.WEBHOOK_MAX_ATTEMPTS,
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    deadline = time.monotonic() + RETRY_BUDGET_S
    sent = 0
    for delivery_id in due:
        if time.monotonic() > deadline:
            break
        sent += _attempt(delivery_id=delivery_id, manual=False)[1]
    return sent


def delivery_redeliver(*, delivery_id: int, actor: str) -> Delivery:
    """Send a delivery again now, whatever its status (delivered and dead included)."""
    delivery = delivery_get(delivery_id)
    if delivery.endpoint is not None and not delivery.endpoint.active:
        raise Conflict(
            "This delivery's webhook endpoint is deactivated; reactivate it first",
            code="ENDPOINT_INACTIVE",
            details={"endpoint": delivery.endpoint_id},
        )
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery = delivery_attempt(delivery_id=delivery_id, manual=True)
    audit_record(
        actor=actor,
        action="delivery.redeliver",
        obj=("delivery", delivery.pk),
        before=before,
        after={"status": delivery.status, "attempts": delivery.attempts},
    )
    return delivery
