"""Recording notifications for the parent SaaS: each event once (its dedupe key), with
one delivery per destination, inside the caller's transaction. Sending starts after the
caller commits (`deliveries`)."""

import datetime as dt
import logging

from django.db import transaction

from members.models import Member
from members.selectors import org_settings
from members.services.rows import insert_once
from notifications.email import email_destination
from notifications.models import Delivery, Notification, WebhookEndpoint
from notifications.services.endpoints import EVENTS
from orgportal import clock
from orgportal.dispatch import enqueue_after_commit

log = logging.getLogger(__name__)


def _jsonable(value):
    if isinstance(value, dt.datetime):
        return clock.iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def member_snapshot(member: Member) -> dict:
    """`data.member` of member events: who the event is about, as of the event."""
    return {
        "uid": member.uid,
        "full_name": member.full_name,
        "plan": member.plan.name,
        "status": member.status,
        "term_start": clock.iso(member.term_start),
        "term_end": clock.iso(member.term_end),
        "auto_renew": member.auto_renew,
    }


def notify(
    *, event: str, dedupe_key: str, data: dict, member: Member | None = None
) -> Notification | None:
    """Record `event` once per `dedupe_key` with its deliveries, in the caller's
    transaction; returns None when the key was recorded before. Sending starts after the
    caller commits. `data` is the webhook body's `data`: datetimes become ISO 8601 strings;
    credit amounts must already be decimal strings (`format_amount`). With a `member` and no
    `data["member"]`, the member's snapshot is added."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    if not dedupe_key or len(dedupe_key) > 200:
        raise ValueError("dedupe_key must be 1 to 200 characters")
    if Notification.objects.filter(dedupe_key=dedupe_key).exists():
        return None
    payload = _jsonable(data)
    if member is not None and "member" not in payload:
        payload = {"member": member_snapshot(member), **payload}
    recipients = org_settings().email_list
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(active=True)
        if not e.events or event in e.events
    ]
    # (channel, endpoint, destination) of each delivery.
    destinations = (
        [(Delivery.Channel.EMAIL, None, email_destination(recipients))]
        if recipients
        else []
    )
    destinations += [(Delivery.Channel.WEBHOOK, e, e.url) for e in endpoints]
    now = clock.now()
    # The notification and its deliveries are recorded together or not at all.
    with transaction.atomic():
        notification = insert_once(
            Notification(
                event=event,
                dedupe_key=dedupe_key,
                member=member,
                payload=payload,
                created_at=now,
            )
        )
        if notification is None:  # recorded meanwhile
            return None
        for channel, endpoint, destination in destinations:
            # next_attempt_at = now: due at once, so if the task below is lost the
            # beat's deliveries_retry_due sends it.
            delivery = Delivery.objects.create(
                notification=notification,
                channel=channel,
                endpoint=endpoint,
                destination=destination,
                status=Delivery.Status.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            enqueue_after_commit("members.tasks.delivery_send", delivery.pk)
    return notification
