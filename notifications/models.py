"""Notifications for the parent SaaS and where they go: each event recorded once, its
deliveries (email, webhook endpoints) and every attempt at sending them.

The tables keep the `members_*` names they were created with (see migration 0001).
"""

from django.db import models
from django.db.models import Q

from members.models import Member, NewestFirst, protected_fk


class Notification(NewestFirst):
    """An event for the parent SaaS, recorded once (dedupe_key) and then delivered by
    email and to every subscribed webhook endpoint."""

    class Event(models.TextChoices):
        RENEWAL_DUE = "member.renewal_due"
        RENEWED = "member.renewed"
        RENEWAL_FAILED = "member.renewal_failed"
        EXPIRED = "member.expired"
        LOW_BALANCE = "org.low_balance"
        QUOTA_EXCEEDED = "member.quota_exceeded"

    event = models.CharField(max_length=40, choices=Event.choices)
    dedupe_key = models.CharField(max_length=200, unique=True)
    member = protected_fk(Member, "notifications", null=True, blank=True)
    payload = models.JSONField(help_text="the webhook body's `data`")
    created_at = models.DateTimeField()

    class Meta(NewestFirst.Meta):
        db_table = "members_notification"
        indexes = [models.Index(fields=["event", "created_at"])]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk}"


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    secret_encrypted = models.TextField(help_text="Fernet token of the signing secret")
    events = models.JSONField(
        default=list, blank=True, help_text="event names to send; empty = all"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "members_webhookendpoint"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class Delivery(NewestFirst):
    """One notification to one destination (the email recipients, or one endpoint)."""

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed", "failed (will retry)"
        DEAD = "dead", "gave up"

    notification = protected_fk(Notification, "deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    endpoint = protected_fk(WebhookEndpoint, "deliveries", null=True, blank=True)
    destination = models.CharField(
        max_length=1000, help_text="URL or addresses at the time of sending"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta(NewestFirst.Meta):
        db_table = "members_delivery"
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "endpoint"],
                condition=Q(channel="webhook"),
                name="delivery_once_per_endpoint",
            ),
            models.UniqueConstraint(
                fields=["notification"],
                condition=Q(channel="email"),
                name="delivery_email_once",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.channel} {self.notification_id} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    manual = models.BooleanField(default=False, help_text="a redelivery asked for")
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()

    class Meta:
        db_table = "members_deliveryattempt"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
