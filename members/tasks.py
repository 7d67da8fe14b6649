"""Thin Celery wrappers around services. Tasks take ids and are safe to run twice."""

import datetime as dt

from celery import shared_task

from members.services import operations


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


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def renewals_run() -> dict:
    """Reminders, auto-renewals, expiries and the low-balance alert. Safe to run twice
    at once (beat firing twice, two workers): every action is claimed once per term.
    Stops after four minutes; what is left is still due on the next run."""
    from members.services.renewals import renewals_run as run

    return run(budget_s=240).as_dict()


@shared_task(time_limit=300, soft_time_limit=280)
def idempotency_keys_clean() -> int:
    from members.services.idempotency import idempotency_records_clean

    return idempotency_records_clean()


# --- reconciliation, usage roll-ups, monthly quota ---------------------------------------

# Reconciliation retries: full jitter under an exponential ceiling, in seconds. Five
# retries wait at most about fifteen minutes in all; then the next hourly run takes over.
RECONCILE_RETRY_BASE_S = 30
RECONCILE_RETRY_CAP_S = 600
RECONCILE_MAX_RETRIES = 5


class ReconcileFailed(Exception):
    """Upstream could not be read in full; the run row says why."""


@shared_task(
    bind=True,
    acks_late=True,  # safe: a rerun compares again and repairs only what still differs
    max_retries=RECONCILE_MAX_RETRIES,
    time_limit=1800,  # 100k members is a thousand pages; a run may take minutes
    soft_time_limit=1740,
)
def reconcile(self) -> dict:
    """Beat: compare every member with upstream, repair what is safe, report the rest."""
    import random

    from members.services.reconcile import reconcile_run

    run = reconcile_run()
    if run.error:
        ceiling = min(
            RECONCILE_RETRY_CAP_S, RECONCILE_RETRY_BASE_S * 2**self.request.retries
        )
        raise self.retry(
            countdown=random.uniform(0, ceiling),  # noqa: S311 - jitter, not secrecy
            exc=ReconcileFailed(run.error),
        )
    return {
        "run": run.pk,
        "checked": run.checked,
        "repaired": len(run.repaired),
        "reported": len(run.reported),
    }


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def usage_rollup(day: str | None = None) -> int:
    """Beat, daily: roll UsageDay into UsageMonth. `day` is an ISO date (default
    yesterday, UTC); recomputes whole months, so a rerun changes nothing."""
    from members.services.usage import usage_rollup as rollup

    return rollup(day=dt.date.fromisoformat(day) if day else None)


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def quota_reset() -> int:
    """Beat, as each month starts: clear last month's quota_exceeded flags."""
    from members.services.quota import quota_reset as reset

    return reset()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def quota_exceeded_notify() -> int:
    """Beat: member.quota_exceeded, once per member per month."""
    from members.services.quota import quota_exceeded_notify as notify

    return notify()
