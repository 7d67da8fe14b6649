"""Reconciliation with the upstream: list every member upstream, compare with the local
mirror, repair what is safe and report the rest for a person.

Two phases, so a listing that fails half way applies nothing:
1. Read: page through upstream, comparing each batch with the local rows of the same
   uids. Only the differences and the uids seen are kept, never the members themselves.
2. Apply: only after the whole listing was read. Each repair re-reads the member under
   its row lock and changes a field only if it still holds the value compared in phase 1
   (a change made meanwhile wins and the next run looks again).

Safe repairs: the limit fields and full_name follow upstream (no money depends on them,
upstream enforces its own values whatever we hold, and an admin's stricter overrides are
separate fields, left alone), and a member that upstream reports expired and whose local
term has ended is expired through the scheduler's own expiry (once per term, audited,
`member.expired` notified, gateways told).
Reported, never repaired: a member upstream that is unknown here, a live member here that
upstream no longer has, and any plan, status or term-end disagreement: each may mean
credits are owed one way or the other, and only a person can say which.

Money is never touched: no ledger posting, no wallet lock. A member with an operation in
flight is skipped, and a disagreement about a member whose operation ran during the
pass is dropped: the operation explains it and the next run will see the settled state.
"""

import logging
from typing import Any

from django.db import transaction
from django.db.models import Max, Q

from members.models import Member, Operation
from members.services import cache_events
from members.services.audit import audit_record
from members.upstream import OrgClient, UpstreamError, shared_client
from orgportal import clock
from renewals.models import ReconciliationRun
from renewals.services.expiry import member_expire
from renewals.services.reconcile_read import (
    BATCH_SIZE,
    Findings,
    Repair,
    report_item,
    upstream_read,
)

log = logging.getLogger(__name__)

ACTOR = "system:reconcile"
PAGE_SIZE = 100  # the Organization API's largest page
# Items kept on the run row; the rest are counted in one summary item.
MAX_ITEMS = 1000


def reconcile_run(
    *, client: OrgClient | None = None, page_size: int = PAGE_SIZE
) -> ReconciliationRun:
    """Compare every member with upstream; repair what is safe, report the rest. The run
    row says what was found; `run.error` is set (and nothing applied) when upstream
    could not be read in full."""
    client = client or shared_client()
    run = ReconciliationRun.objects.create(started_at=clock.now())
    findings = Findings(
        op_watermark=Operation.objects.aggregate(m=Max("id"))["m"] or 0,
        busy_at_start=set(
            Operation.objects.filter(status__in=Operation.IN_FLIGHT).values_list(
                "member_uid", flat=True
            )
        ),
    )
    try:
        upstream_read(client, page_size, findings)
    except UpstreamError as exc:
        log.warning("reconciliation could not read upstream: %s", exc.message)
        return _finish(
            run,
            findings,
            repaired=[],
            reported=[],
            error=f"Reading upstream failed after {findings.listed} members were "
            f"listed; nothing was applied: {exc.message}",
        )
    except BaseException as exc:
        _abandon(run, findings, f"Aborted ({type(exc).__name__}); nothing was applied")
        raise
    try:
        repaired, reported = _apply(findings)
    except BaseException as exc:
        _abandon(
            run,
            findings,
            f"Aborted while applying ({type(exc).__name__}); repairs made before it "
            "stand (see the audit log) and the next run finds the rest",
        )
        raise
    return _finish(run, findings, repaired=repaired, reported=reported)


def _abandon(run: ReconciliationRun, findings: Findings, error: str) -> None:
    """A time limit or a crash: leave the row saying so, not looking still running,
    without hiding the exception that stopped the run."""
    try:
        _finish(run, findings, repaired=[], reported=[], error=error)
    except Exception:
        log.exception("could not record the end of reconciliation run %s", run.pk)


# --- phase 2: apply ------------------------------------------------------------------------


def _explained(uids: set[str], findings: Findings) -> set[str]:
    """Uids with an operation in flight at any point of the pass: whatever was compared
    may already be out of date, and the operation owns the outcome."""
    explained = uids & findings.busy_at_start
    ordered = sorted(uids - explained)
    for start in range(0, len(ordered), BATCH_SIZE):
        chunk = ordered[start : start + BATCH_SIZE]
        explained.update(
            Operation.objects.filter(member_uid__in=chunk)
            .filter(Q(status__in=Operation.IN_FLIGHT) | Q(id__gt=findings.op_watermark))
            .values_list("member_uid", flat=True)
        )
    return explained


def _apply(findings: Findings) -> tuple[list, list]:
    uids = {r.uid for r in findings.repairs} | {i["uid"] for i in findings.reported}
    explained = _explained(uids, findings)
    reported = [i for i in findings.reported if i["uid"] not in explained]
    repaired: list[dict] = []
    for repair in findings.repairs:
        if repair.uid in explained:
            continue
        if repair.fields:
            repaired.extend(_repair_fields(repair))
        if repair.expire and _expire(repair.member_id):
            repaired.append(
                report_item(
                    repair.uid,
                    "status",
                    Member.Status.ACTIVE,
                    Member.Status.EXPIRED,
                    action="marked expired (its term had ended on both sides); "
                    "gateways told, member.expired notified",
                )
            )
    return repaired, reported


def _repair_fields(repair: Repair) -> list[dict]:
    items: list[dict] = []
    with transaction.atomic():
        member = (
            Member.objects.select_for_update()
            .filter(pk=repair.member_id)
            .exclude(status=Member.Status.DELETED)
            .first()
        )
        if member is None:
            return items
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for name, (seen, upstream) in repair.fields.items():
            if getattr(member, name) != seen:  # changed meanwhile: that change wins
                continue
            setattr(member, name, upstream)
            before[name], after[name] = seen, upstream
            items.append(
                report_item(
                    member.uid,
                    name,
                    seen,
                    upstream,
                    action="follows upstream",
                )
            )
        if not after:
            return items
        member.updated_at = clock.now()
        member.save(update_fields=[*after, "updated_at"])
        audit_record(
            actor=ACTOR,
            action="member.reconcile",
            obj=("member", member.uid),
            before=before,
            after=after,
        )
        member_pk = member.pk
        # Limits are what the gateways enforce: they must reload this member.
        transaction.on_commit(lambda: cache_events.member_changed(member_pk))
    return items


def _expire(member_id: int) -> bool:
    # The scheduler's expiry, not a status write of our own: it claims the term's expiry
    # once (so it is not done or notified twice when both get there), audits it, sends
    # member.expired and tells the gateways.
    return member_expire(member_id=member_id, at=clock.now())


# --- the run row ---------------------------------------------------------------------------


def _finish(
    run: ReconciliationRun,
    findings: Findings,
    *,
    repaired: list[dict],
    reported: list[dict],
    error: str = "",
) -> ReconciliationRun:
    run.finished_at = clock.now()
    run.checked = findings.checked
    run.repaired = _capped(repaired)
    run.reported = _capped(reported)
    run.error = error[:500]
    with transaction.atomic():
        run.save(
            update_fields=["finished_at", "checked", "repaired", "reported", "error"]
        )
        audit_record(
            actor=ACTOR,
            action="reconcile.failed" if error else "reconcile.run",
            obj=("reconciliation_run", run.pk),
            after={
                "checked": findings.checked,
                "skipped_in_flight": findings.skipped,
                "repaired": len(repaired),
                "reported": len(reported),
                "error": run.error,
            },
        )
    log.info(
        "reconciliation finished",
        extra={
            "run": run.pk,
            "checked": run.checked,
            "repaired": len(repaired),
            "reported": len(reported),
            "error": run.error,
        },
    )
    return run


def _capped(items: list[dict]) -> list[dict]:
    if len(items) <= MAX_ITEMS:
        return items
    rest = len(items) - (MAX_ITEMS - 1)
    return [
        *items[: MAX_ITEMS - 1],
        report_item("*", "*", None, None, why=f"{rest} more items not listed"),
    ]
