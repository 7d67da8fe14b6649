"""Deciding an operation whose outcome is unknown (a timeout, a dropped connection, a
5xx, a caller that died mid-call) by reading the member back from upstream; while
upstream cannot be read, a Celery task keeps trying."""

import datetime as dt
import logging

from members.errors import NotFound, UpstreamFailed
from members.models import Operation
from members.services.operations.settle import (
    Outcome,
    operation_fail,
    operation_settle,
    parse_time,
)
from members.upstream import (
    OrgClient,
    UpstreamError,
    UpstreamNotFound,
    shared_client,
)
from orgportal import clock
from orgportal.dispatch import enqueue_after_commit
from orgportal.upstream_http import call_deadline_s

log = logging.getLogger(__name__)


def operation_resolve(*, operation_id: int, client: OrgClient | None = None) -> Outcome:
    op = Operation.objects.select_related("member").get(pk=operation_id)
    if op.status not in Operation.IN_FLIGHT:
        return Outcome(operation=op, member=op.member)
    if op.status == Operation.Status.PENDING and op.started_at > clock.now() - (
        dt.timedelta(seconds=call_deadline_s())
    ):
        # Its caller may still be in the upstream call (or retrying it): reading the
        # member back now could call "not applied" a change about to be applied.
        return Outcome(operation=op, member=op.member)
    return operation_read_back(op, client or shared_client())


def operations_in_flight(*, older_than: dt.timedelta) -> list[int]:
    cutoff = clock.now() - older_than
    return list(
        Operation.objects.filter(status__in=Operation.IN_FLIGHT, created_at__lte=cutoff)
        .order_by("id")
        .values_list("id", flat=True)
    )


def operation_read_back(
    op: Operation, client: OrgClient, *, inline: bool = False
) -> Outcome:
    """Decide an operation whose outcome is unknown by reading the member back.
    `inline`: its caller is waiting, so a failure raises the error to show it."""
    Operation.objects.filter(pk=op.pk).update(resolve_attempts=op.resolve_attempts + 1)
    try:
        upstream = client.member_get(uid=op.member_uid)
    except UpstreamNotFound:
        upstream = None
    except UpstreamError:
        log.warning("operation outcome still unknown", extra={"operation": op.pk})
        if inline:
            enqueue_after_commit("members.tasks.operation_resolve", op.pk)
        op.refresh_from_db()
        return Outcome(operation=op, member=op.member)
    if _was_applied(op, upstream):
        return operation_settle(op, upstream)
    if upstream is None and op.kind != Operation.Kind.CREATE:
        operation_fail(op, None, code="MEMBER_NOT_FOUND_UPSTREAM")
        if inline:
            raise NotFound(
                f"Member {op.member_uid!r} does not exist upstream; nothing was "
                "charged or credited. Reconcile reports it.",
                code="MEMBER_NOT_FOUND_UPSTREAM",
                details={"uid": op.member_uid},
            )
        return Outcome(operation=op, member=op.member)
    operation_fail(op, None, code="NOT_APPLIED")
    if inline:
        raise UpstreamFailed(
            "The upstream did not apply the change; nothing was charged. Try again.",
            code="UPSTREAM_UNAVAILABLE",
            status=503,
        )
    return Outcome(operation=op, member=op.member)


def _was_applied(op: Operation, upstream: dict | None) -> bool:
    """Whether the member as upstream has it now (None: missing) shows `op` applied,
    compared with what it was before the call (`op.expected`)."""
    exp = op.expected
    if op.kind == Operation.Kind.CREATE:
        return upstream is not None and upstream.get("plan") == op.request["plan"]
    if op.kind == Operation.Kind.DELETE:
        return upstream is None
    if op.kind == Operation.Kind.CANCEL:
        # A member missing upstream was not cancelled by us: never credit for it.
        return upstream is not None and upstream.get("status") == "cancelled"
    if upstream is None:
        return False
    if upstream.get("plan") != op.request["plan"]:
        return False
    before = parse_time(exp["plan_end_at"])
    after = parse_time(upstream["plan_end_at"])
    if op.kind == Operation.Kind.RENEW and exp.get("status") == "active":
        return after > before
    return after != before or (
        exp.get("status") != "active" and upstream.get("status") == "active"
    )
