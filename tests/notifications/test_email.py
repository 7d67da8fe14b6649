"""Email notifications: who receives them, failures of the mail server, and what each
email says."""

import datetime as dt

import pytest
from django.core import mail

from members.selectors import org_settings
from notifications.email import email_message
from notifications.services.deliveries import (
    delivery_attempt,
)
from notifications.services.notify import notify
from tests.notifications.helpers import RENEWED, notify_and_commit, renewed_event


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


def test_a_failing_mail_server_is_a_failed_attempt(db, frozen, settings, closed_port):
    # given: SMTP on a loopback port where nothing listens
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    org = org_settings()
    org.notify_emails = "ops@example.com"
    org.save()
    notification = notify(**renewed_event())
    # when
    delivery = delivery_attempt(delivery_id=notification.deliveries.get().pk)
    # then
    assert delivery.status == "failed"
    assert "ConnectionRefusedError" in delivery.last_error


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
