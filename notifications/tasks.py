"""Thin Celery wrappers around the delivery services. Tasks take ids and are safe to run
twice.

Each keeps the name it was registered under in `members.tasks`: queued messages and the
beat schedule refer to tasks by name."""

from celery import shared_task

from notifications.services.deliveries import deliveries_retry_due as retry_due
from notifications.services.deliveries import delivery_attempt


@shared_task(
    name="members.tasks.delivery_send",
    acks_late=True,
    time_limit=120,
    soft_time_limit=100,
)
def delivery_send(delivery_id: int) -> str:
    """Send one notification delivery if it is still due. Safe to run twice: the service
    claims the delivery before sending, so a redelivered task sends nothing new."""
    return delivery_attempt(delivery_id=delivery_id).status


@shared_task(
    name="members.tasks.deliveries_retry_due", time_limit=300, soft_time_limit=280
)
def deliveries_retry_due() -> int:
    """Beat: retry failed deliveries whose backoff has passed, and send any whose task
    was lost."""
    return retry_due()
