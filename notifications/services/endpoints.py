"""Webhook endpoints: where notifications are POSTed, and the secret they are signed with.

A URL that names a loopback, private, link-local, metadata or otherwise internal
address, in any spelling, or that carries a user name or password, is refused here
(INVALID_WEBHOOK_URL, naming the reason); `notifications.signing` checks again at send time.

The signing secret is generated here, stored only Fernet-encrypted, and returned once
(on create and on rotation). Every change is audited, never with the secret.
"""

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from members.crypto import encrypt
from members.errors import ValidationFailed
from members.services.audit import audit_record
from notifications.models import Delivery, Notification, WebhookEndpoint
from notifications.selectors import webhook_endpoint_get
from orgportal import clock
from outbound.addresses import Refused, check_url

EVENTS = tuple(Notification.Event.values)
SECRET_PREFIX = "whsec_"


def _valid_url(url) -> str:
    problem = None
    if not isinstance(url, str) or not url.strip():
        problem = "a URL is required"
    else:
        url = url.strip()
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError for a port out of range
        except ValueError:
            parts = None
        if len(url) > 500:
            problem = "at most 500 characters"
        elif any(c.isspace() for c in url):
            problem = "no spaces"
        elif parts is None or parts.scheme not in ("http", "https"):
            problem = "an absolute http:// or https:// URL"
        elif not parts.hostname:
            problem = "a URL with a host"
        else:
            # Only what the URL says is judged here, with no DNS lookup: what its name
            # resolves to is judged again at every send.
            try:
                check_url(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS)
            except Refused as exc:
                problem = str(exc)
    if problem:
        raise ValidationFailed(
            f"Invalid webhook URL: {problem}",
            code="INVALID_WEBHOOK_URL",
            details={"url": [problem]},
        )
    return url


def _valid_events(events) -> list[str]:
    if events is None:
        return []
    if not isinstance(events, list | tuple) or not all(
        isinstance(e, str) for e in events
    ):
        raise ValidationFailed(
            "events must be a list of event names",
            code="INVALID_EVENTS",
            details={"events": ["a list of event names"]},
        )
    unknown = sorted({e for e in events if e not in EVENTS})
    if unknown:
        raise ValidationFailed(
            f"Unknown event {unknown[0]!r}; known: {', '.join(EVENTS)}",
            code="UNKNOWN_EVENT",
            details={"events": unknown, "known": list(EVENTS)},
        )
    return [e for e in EVENTS if e in events]


def _valid_description(description) -> str:
    if not isinstance(description, str) or len(description) > 200:
        raise ValidationFailed(
            "description must be text of at most 200 characters",
            code="INVALID_DESCRIPTION",
            details={"description": ["at most 200 characters"]},
        )
    return description


# What the audit log shows of an endpoint (never its secret).
_AUDITED = ("url", "description", "events", "active")


def _endpoint_audit(endpoint: WebhookEndpoint) -> dict:
    return {field: getattr(endpoint, field) for field in _AUDITED}


def _audit(action: str, endpoint_id: int, *, actor: str, **before_after) -> None:
    """The audit row of a change to an endpoint; `before`/`after` as `audit_record`."""
    audit_record(
        actor=actor,
        action=f"webhook.{action}",
        obj=("webhook_endpoint", endpoint_id),
        **before_after,
    )


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _stop_pending(endpoint: WebhookEndpoint) -> None:
    # Nothing is sent to a deactivated endpoint; the log stays, and a manual redelivery
    # after reactivation sends what was missed.
    endpoint.deliveries.filter(
        status__in=(Delivery.Status.PENDING, Delivery.Status.FAILED)
    ).update(
        status=Delivery.Status.DEAD,
        next_attempt_at=None,
        last_error="endpoint deactivated",
    )


def webhook_endpoint_create(
    *, url: str, actor: str, description: str = "", events: list[str] | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret: the secret is returned only here."""
    url = _valid_url(url)
    events = _valid_events(events)
    description = _valid_description(description)
    secret = _new_secret()
    now = clock.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            description=description,
            secret_encrypted=encrypt(secret),
            events=events,
            active=True,
            created_at=now,
            updated_at=now,
        )
        _audit("create", endpoint.pk, actor=actor, after=_endpoint_audit(endpoint))
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint_id: int,
    actor: str,
    url: str | None = None,
    description: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; `events=[]` subscribes to every event."""
    changes: dict = {}
    if url is not None:
        changes["url"] = _valid_url(url)
    if description is not None:
        changes["description"] = _valid_description(description)
    if events is not None:
        changes["events"] = _valid_events(events)
    if active is not None:
        if not isinstance(active, bool):
            raise ValidationFailed(
                "active must be true or false",
                code="VALIDATION_ERROR",
                details={"active": ["true or false"]},
            )
        changes["active"] = active
    with transaction.atomic():
        endpoint = webhook_endpoint_get(endpoint_id, lock=True)
        before = _endpoint_audit(endpoint)
        for field, value in changes.items():
            setattr(endpoint, field, value)
        if _endpoint_audit(endpoint) == before:
            return endpoint
        endpoint.updated_at = clock.now()
        endpoint.save()
        if before["active"] and not endpoint.active:
            _stop_pending(endpoint)
        _audit(
            "update",
            endpoint.pk,
            actor=actor,
            before=before,
            after=_endpoint_audit(endpoint),
        )
    return endpoint


def webhook_endpoint_rotate_secret(
    *, endpoint_id: int, actor: str
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret, effective for every send from now on (retries included)."""
    secret = _new_secret()
    with transaction.atomic():
        endpoint = webhook_endpoint_get(endpoint_id, lock=True)
        endpoint.secret_encrypted = encrypt(secret)
        endpoint.updated_at = clock.now()
        endpoint.save(update_fields=["secret_encrypted", "updated_at"])
        _audit("rotate_secret", endpoint.pk, actor=actor)
    return endpoint, secret


def webhook_endpoint_delete(*, endpoint_id: int, actor: str) -> None:
    """Remove an endpoint; one with deliveries is deactivated instead, keeping its log."""
    with transaction.atomic():
        endpoint = webhook_endpoint_get(endpoint_id, lock=True)
        before = _endpoint_audit(endpoint)
        if endpoint.deliveries.exists():
            if endpoint.active:
                endpoint.active = False
                endpoint.updated_at = clock.now()
                endpoint.save(update_fields=["active", "updated_at"])
            _stop_pending(endpoint)
            after = _endpoint_audit(endpoint)
        else:
            endpoint.delete()
            after = None
        _audit("delete", endpoint_id, actor=actor, before=before, after=after)
