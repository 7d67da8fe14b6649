"""Step 1 of the protocol: check the input and record the Operation that holds its
charge, before any upstream call."""

import datetime as dt

from django.db import IntegrityError, transaction

from billing.services import ledger
from members.errors import Conflict, ServiceError
from members.models import Member, Operation
from members.services.idempotency import idempotency_bind
from members.status import status_at
from members.uids import RULE as UID_RULE
from members.uids import uid_problem
from orgportal import clock

NAME_MAX = 200


def uid_checked(uid) -> str:
    problem = uid_problem(uid)
    if problem:
        raise ServiceError(
            f"{problem}. A uid is {UID_RULE}.",
            code="VALIDATION_ERROR",
            details={"uid": [problem], "rule": UID_RULE},
        )
    return uid


def name_checked(full_name) -> str | None:
    if full_name is None:
        return None
    if not isinstance(full_name, str) or len(full_name) > NAME_MAX:
        raise ServiceError(
            f"full_name must be a string of at most {NAME_MAX} characters",
            code="VALIDATION_ERROR",
            details={"full_name": [f"at most {NAME_MAX} characters"]},
        )
    return full_name


def operation_record(
    *,
    kind: str,
    uid: str,
    member: Member | None,
    amount: int,
    request: dict,
    actor: str,
    idempotency_key: str,
    at: dt.datetime,
) -> Operation:
    """Record `op` and hold its charge, inside the caller's atomic block, which holds the
    member's row lock (none for a create). Refuses a second operation in flight for the
    member (409), a create for a uid that exists (409) and a charge the wallet cannot
    pay (402). The wallet is touched last, so its row lock lasts only to commit."""
    problem = uid_problem(uid)
    if problem:
        # Only a member recorded before the uid rule can get here; reconcile reports it.
        raise Conflict(
            f"Member {uid!r} cannot be changed upstream: {problem}. Its uid must be "
            f"{UID_RULE}; reconcile lists such members.",
            code="UID_NOT_ADDRESSABLE",
            details={"uid": uid, "rule": UID_RULE},
        )
    expected = {}
    if member is not None:
        expected = {
            "plan": member.plan.name,
            "status": status_at(member.status, member.term_end, at),
            "plan_end_at": member.term_end.isoformat(),
        }
    try:
        # No savepoint: a refusal ends the whole transaction, which is what it means.
        with transaction.atomic(savepoint=False):
            op = Operation.objects.create(
                kind=kind,
                member_uid=uid,
                member=member,
                status=Operation.Status.PENDING,
                request=request,
                amount=amount,
                hold=max(amount, 0),
                expected=expected,
                idempotency_key=idempotency_key or "",
                actor=actor,
                started_at=at,
                created_at=clock.now(),
            )
    except IntegrityError:
        raise Conflict(
            f"Another change to member {uid!r} is in progress; retry in a moment",
            code="MEMBER_BUSY",
            details={"uid": uid},
        ) from None
    if kind == Operation.Kind.CREATE and _member_exists(uid):
        # Checked after the insert: a create of this uid settled while the insert
        # waited on it is seen here.
        raise Conflict(
            f"A member with uid {uid!r} already exists",
            code="MEMBER_EXISTS",
            details={"uid": uid},
        )
    idempotency_bind(op)
    ledger.wallet_hold(op.hold)
    return op


def _member_exists(uid: str) -> bool:
    return Member.objects.filter(uid=uid).exclude(status=Member.Status.DELETED).exists()
