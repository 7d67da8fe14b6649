"""The member changes made through the upstream Organization API: each locks its member,
prices itself and records its Operation holding the charge, then executes it with no
transaction open."""

from django.db import transaction

from members.errors import Conflict
from members.models import Member, Operation
from members.selectors import org_settings
from members.services.operations.execute import operation_execute
from members.services.operations.member_settings import settings_checked
from members.services.operations.previews import (
    cancel_credit,
    change_amount,
    change_kind,
)
from members.services.operations.record import (
    name_checked,
    operation_record,
    uid_checked,
)
from members.services.operations.settle import Outcome
from members.services.operations.state import member_get_live
from members.services.plans import plan_for_new_term
from members.status import status_at
from members.upstream import OrgClient
from orgportal import clock


def member_create(
    *,
    uid: str,
    plan: str,
    actor: str,
    full_name: str | None = None,
    auto_renew: bool | None = None,
    idempotency_key: str = "",
    client: OrgClient | None = None,
) -> Outcome:
    uid = uid_checked(uid)
    full_name = name_checked(full_name)
    target = plan_for_new_term(plan)
    with transaction.atomic():
        at = clock.now()
        request = {"plan": target.name, "full_name": full_name}
        request["auto_renew"] = (
            org_settings().auto_renew_default
            if auto_renew is None
            else bool(auto_renew)
        )
        op = operation_record(
            kind=Operation.Kind.CREATE,
            uid=uid,
            member=None,
            amount=target.price,
            request=request,
            actor=actor,
            idempotency_key=idempotency_key,
            at=at,
        )
    return operation_execute(op, client)


def member_change_plan(
    *,
    uid: str,
    plan: str,
    actor: str,
    full_name: str | None = None,
    auto_renew: bool | None = None,
    overrides: dict | None = None,
    idempotency_key: str = "",
    client: OrgClient | None = None,
) -> Outcome:
    """Upstream's update: another plan is prorated; the same plan is a renewal.
    `auto_renew` and `overrides` change with it: applied only if the plan change is."""
    full_name = name_checked(full_name)
    target = plan_for_new_term(plan)
    changes = settings_checked(auto_renew=auto_renew, overrides=overrides)
    with transaction.atomic():
        member = member_get_live(uid, lock=True)
        at = clock.now()  # after the lock: a wait for it must not date the change back
        op = operation_record(
            kind=change_kind(member, target),
            uid=member.uid,
            member=member,
            amount=change_amount(member, target, at),
            request={"plan": target.name, "full_name": full_name, **changes},
            actor=actor,
            idempotency_key=idempotency_key,
            at=at,
        )
    return operation_execute(op, client)


def member_renew(
    *, uid: str, actor: str, idempotency_key: str = "", client: OrgClient | None = None
) -> Outcome:
    member = member_get_live(uid)
    return member_change_plan(
        uid=uid,
        plan=member.plan.name,
        actor=actor,
        idempotency_key=idempotency_key,
        client=client,
    )


def member_cancel(
    *, uid: str, actor: str, idempotency_key: str = "", client: OrgClient | None = None
) -> Outcome:
    with transaction.atomic():
        member = member_get_live(uid, lock=True)
        at = clock.now()  # after the lock: a wait for it must not date the change back
        status = status_at(member.status, member.term_end, at)
        if status != Member.Status.ACTIVE:
            raise Conflict(
                f"Member {uid!r} is {status}, not active",
                code="MEMBER_NOT_ACTIVE",
                details={"status": status},
            )
        op = _record_ending(Operation.Kind.CANCEL, member, at, actor, idempotency_key)
    return operation_execute(op, client)


def member_delete(
    *, uid: str, actor: str, idempotency_key: str = "", client: OrgClient | None = None
) -> Outcome:
    """Delete upstream; an active member's unused time is credited as a cancel would be.
    The local record and its ledger history are kept, marked deleted."""
    with transaction.atomic():
        member = member_get_live(uid, lock=True)
        at = clock.now()  # after the lock: a wait for it must not date the change back
        op = _record_ending(Operation.Kind.DELETE, member, at, actor, idempotency_key)
    return operation_execute(op, client)


def _record_ending(kind, member, at, actor, idempotency_key) -> Operation:
    """A cancel or delete recorded: either credits back the unused part of what was
    paid."""
    return operation_record(
        kind=kind,
        uid=member.uid,
        member=member,
        amount=-cancel_credit(member, at),
        request={},
        actor=actor,
        idempotency_key=idempotency_key,
        at=at,
    )
