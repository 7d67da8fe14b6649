"""Thin Celery wrappers around the scheduler and reconciliation services.

Each keeps the name it was registered under in `members.tasks`: queued messages and the
beat schedule refer to tasks by name."""

import random
import time

from celery import group, shared_task

from renewals.services.reconcile import reconcile_run
from renewals.services.run import RunReport, chunk_run, low_balance_check, pass_plan

# A pass is cut into chunks of one kind, each about half a second of work (an
# auto-renewal is an upstream call; a reminder or an expiry one transaction), so the
# workers share even a small pass evenly.
RENEWALS_CHUNK_SIZES = {"reminders": 50, "renewals": 10, "expiries": 50}
# A chunk stops taking members after this long; what is left is due on the next pass.
# Its time limits leave forty seconds for the member in hand, as the pass's always did.
RENEWALS_CHUNK_BUDGET_S = 60
# A chunk still queued this long after its pass is dropped unstarted: the passes beat
# fired since (every five minutes by default) have scanned its members again.
RENEWALS_CHUNK_EXPIRES_S = 600

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
    """Beat: one pass of reminders, auto-renewals, expiries and the low-balance alert,
    fanned out as a group of chunks over the available workers. Safe to run twice at
    once (beat firing twice, two workers): every action is claimed once per term.
    Returns the pass's report: what was scanned and settled here, plus, when tasks run
    eagerly (in this process), the chunks' counts summed; a worker's log shows each
    chunk's own report otherwise."""
    started = time.monotonic()
    plan = pass_plan()
    report = plan.report()
    chunks = plan.chunks(RENEWALS_CHUNK_SIZES)
    if chunks:
        fanned = group(renewals_chunk.si(kind, ids) for kind, ids in chunks)
        result = fanned.apply_async(expires=RENEWALS_CHUNK_EXPIRES_S)
        if renewals_chunk.app.conf.task_always_eager:
            # The chunks have run, here: reading their results does not wait.
            for part in result.results:
                report.add(RunReport(**part.get(disable_sync_subtasks=False)))
    else:
        report.low_balance_alert = low_balance_check(at=plan.at)
    report.seconds = round(time.monotonic() - started, 3)
    return report.as_dict()


@shared_task(
    name="members.tasks.renewals_chunk",
    acks_late=True,  # safe: a rerun finds each member's action claimed and skips it
    time_limit=RENEWALS_CHUNK_BUDGET_S + 60,
    soft_time_limit=RENEWALS_CHUNK_BUDGET_S + 40,
)
def renewals_chunk(kind: str, ids: list[int]) -> dict:
    """One chunk of a pass: the members `ids`, due for `kind` (reminders, renewals or
    expiries), then the low-balance check."""
    return chunk_run(kind=kind, ids=ids, budget_s=RENEWALS_CHUNK_BUDGET_S).as_dict()


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
