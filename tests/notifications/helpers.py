"""Recording notifications the way the product's events do."""

from django.db import transaction

from notifications.services.notify import notify

RENEWED = "member.renewed"


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
