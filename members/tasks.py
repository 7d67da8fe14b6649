"""Thin Celery wrappers around services. Tasks take ids and are safe to run twice."""

import datetime as dt

from celery import shared_task

from members.services import idempotency, operations, quota, usage


@shared_task(
    bind=True,
    acks_late=True,
    max_retries=None,
    default_retry_delay=5,
    time_limit=120,
    soft_time_limit=100,
)
def operation_resolve(self, operation_id: int) -> str:
    """Read the member back until the operation's outcome is known. Backs off with
    jitter up to ten minutes between tries; never gives up (no credit is left in limbo)."""
    outcome = operations.operation_resolve(operation_id=operation_id)
    if outcome.operation.status in ("pending", "unknown"):
        delay = min(600, 5 * 2 ** min(self.request.retries, 7))
        raise self.retry(countdown=delay)
    return outcome.operation.status


@shared_task(time_limit=300, soft_time_limit=280)
def operations_resolve_pending() -> int:
    """Catch operations left in flight by a process that died mid-call."""
    ids = operations.operations_in_flight(older_than=dt.timedelta(seconds=60))
    for operation_id in ids:
        operations.operation_resolve(operation_id=operation_id)
    return len(ids)


@shared_task(time_limit=300, soft_time_limit=280)
def idempotency_keys_clean() -> int:
    return idempotency.idempotency_records_clean()


# --- usage roll-ups, monthly quota -------------------------------------------------------


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def usage_rollup(day: str | None = None) -> int:
    """Beat, daily: roll UsageDay into UsageMonth. `day` is an ISO date (default
    yesterday, UTC); recomputes whole months, so a rerun changes nothing."""
    return usage.usage_rollup(day=dt.date.fromisoformat(day) if day else None)


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def quota_reset() -> int:
    """Beat, as each month starts: clear last month's quota_exceeded flags."""
    return quota.quota_reset()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def quota_exceeded_notify() -> int:
    """Beat: member.quota_exceeded, once per member per month."""
    return quota.quota_exceeded_notify()
