"""Thin Celery wrappers around the scheduler and reconciliation services.

Each keeps the name it was registered under in `members.tasks`: queued messages and the
beat schedule refer to tasks by name."""

import random

from celery import shared_task

from renewals.services.reconcile import reconcile_run
from renewals.services.run import renewals_run as run_renewals

# Reconciliation retries: full jitter under an exponential ceiling, in seconds. Five
# retries wait at most about fifteen minutes in all; then the next hourly run takes over.
RECONCILE_RETRY_BASE_S = 30
RECONCILE_RETRY_CAP_S = 600
RECONCILE_MAX_RETRIES = 5


class ReconcileFailed(Exception):
    """Upstream could not be read in full; the run row says why."""


@shared_task(
    name="members.tasks.renewals_run",
    acks_late=True,
    time_limit=300,
    soft_time_limit=280,
)
def renewals_run() -> dict:
    """Reminders, auto-renewals, expiries and the low-balance alert. Safe to run twice
    at once (beat firing twice, two workers): every action is claimed once per term.
    Stops after four minutes; what is left is still due on the next run."""
    return run_renewals(budget_s=240).as_dict()


@shared_task(
    name="members.tasks.reconcile",
    bind=True,
    acks_late=True,  # safe: a rerun compares again and repairs only what still differs
    max_retries=RECONCILE_MAX_RETRIES,
    time_limit=1800,  # 100k members is a thousand pages; a run may take minutes
    soft_time_limit=1740,
)
def reconcile(self) -> dict:
    """Beat: compare every member with upstream, repair what is safe, report the rest."""
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
