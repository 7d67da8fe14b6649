"""Step 2 of the protocol: the upstream call, made with no database transaction open,
and what its answer means: settle, fail with the reason upstream gave, or read the
member back when the outcome is unknown."""

from members.errors import Conflict, NotFound, ServiceError, UpstreamFailed
from members.models import Operation
from members.services.operations.resolve import operation_read_back
from members.services.operations.settle import (
    Outcome,
    operation_fail,
    operation_settle,
)
from members.upstream import (
    OrgClient,
    UpstreamConflict,
    UpstreamError,
    UpstreamInsufficientCredits,
    UpstreamNotFound,
    UpstreamOutcomeUnknown,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
    shared_client,
)


def upstream_call(op: Operation, client: OrgClient) -> dict | None:
    """Ask upstream for what `op` records; its answer is the member as it now is (None
    for a delete)."""
    req = op.request
    if op.kind == Operation.Kind.CREATE:
        return client.member_create(
            uid=op.member_uid, plan=req["plan"], full_name=req.get("full_name")
        )
    if op.kind in (Operation.Kind.CHANGE, Operation.Kind.RENEW):
        return client.member_update(
            uid=op.member_uid, plan=req["plan"], full_name=req.get("full_name")
        )
    if op.kind == Operation.Kind.CANCEL:
        return client.member_cancel(uid=op.member_uid)
    if op.kind == Operation.Kind.DELETE:
        client.member_delete(uid=op.member_uid)
        return None
    raise ValueError(op.kind)


def operation_execute(op: Operation, client: OrgClient | None) -> Outcome:
    client = client or shared_client()
    try:
        upstream = upstream_call(op, client)
    except (UpstreamConflict, UpstreamNotFound) as exc:
        if op.kind in (Operation.Kind.CANCEL, Operation.Kind.DELETE):
            # Upstream says it is already cancelled or gone: read back and settle.
            return operation_read_back(op, client, inline=True)
        operation_fail(op, exc)
        raise _rejection_error(op, exc) from None
    except UpstreamRejected as exc:
        operation_fail(op, exc)
        raise _rejection_error(op, exc) from None
    except UpstreamUnavailable as exc:
        operation_fail(op, exc)
        raise UpstreamFailed(
            "The upstream Organization API could not be reached; nothing was changed "
            "or charged. Try again shortly.",
            code="UPSTREAM_UNAVAILABLE",
            status=503,
        ) from None
    except UpstreamOutcomeUnknown:
        Operation.objects.filter(pk=op.pk, status=Operation.Status.PENDING).update(
            status=Operation.Status.UNKNOWN
        )
        op.status = Operation.Status.UNKNOWN
        return operation_read_back(op, client, inline=True)
    return operation_settle(op, upstream)


def _rejection_error(op: Operation, exc: UpstreamError) -> ServiceError:
    """The error the caller sees for an upstream refusal: nothing was charged."""
    if isinstance(exc, UpstreamInsufficientCredits):
        return ServiceError(
            "The upstream organization account has too few credits for this change; "
            "top it up in the InsightSentry dashboard. Nothing was charged here.",
            code="UPSTREAM_INSUFFICIENT_CREDITS",
            status=402,
        )
    if isinstance(exc, UpstreamConflict) and op.kind == Operation.Kind.CREATE:
        return Conflict(
            f"A member {op.member_uid!r} already exists upstream but not here; "
            "reconciliation can import it.",
            code="MEMBER_EXISTS_UPSTREAM",
            details={"uid": op.member_uid},
        )
    if isinstance(exc, UpstreamNotFound):
        return NotFound(
            f"Member {op.member_uid!r} no longer exists upstream",
            code="MEMBER_NOT_FOUND_UPSTREAM",
            details={"uid": op.member_uid},
        )
    if isinstance(exc, UpstreamUnauthorized):
        return UpstreamFailed(
            "The upstream refused the organization key; check UPSTREAM_ORG_KEY",
            code="UPSTREAM_AUTH_FAILED",
        )
    return UpstreamFailed(
        f"The upstream refused the request: {exc.message}",
        code="UPSTREAM_REJECTED",
        details={"upstream_code": exc.code},
    )
