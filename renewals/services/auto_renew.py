"""Auto-renewal ahead of a term's end.

An auto-renewal calls upstream, which cannot sit inside the claim's transaction. It goes
through the foundation's operations with a key derived from the term
(`auto-renew:<member>:<end>`): the operation is recorded before the call, so after a crash
or a retry the next run finds it, resolves it by reading the member back if its outcome is
unknown, and never sends a second renewal for the same term. A renewal that upstream
applied moves the member's term_end, so the old term is no longer due.
"""

import datetime as dt

from django.db import transaction

from billing.money import format_amount
from members import schedule
from members.errors import Conflict, InsufficientCredits, ServiceError
from members.models import Member, Operation
from members.selectors import org_settings
from members.services import operations
from members.upstream import OrgClient
from notifications.models import Notification
from notifications.services.notify import member_snapshot
from notifications.services.notify import notify as notification_record
from orgportal import clock
from renewals.models import TermAction
from renewals.services.term_actions import (
    ACTOR,
    CLAIM_LEASE,
    action_claim,
    member_locked,
    renew_key,
)


def member_auto_renew(
    *, member_id: int, at: dt.datetime | None = None, client: OrgClient | None = None
) -> str:
    """Renew the member's current term if it is due for auto-renewal. Returns what
    happened: renewed, already_renewed, waiting_credits, failed, busy, resolving,
    not_due."""
    at = at or clock.now()
    settings_row = org_settings()
    lead = dt.timedelta(hours=settings_row.renew_lead_hours)
    with transaction.atomic():
        member = member_locked(member_id)
        if member is None:
            return "not_due"
        term_end = member.term_end
        key = renew_key(member.pk, term_end)
        previous = (
            Operation.objects.filter(member=member, idempotency_key=key)
            .order_by("-id")
            .first()
        )
        if previous is not None and previous.status == Operation.Status.SUCCEEDED:
            # Renewed, but the worker stopped before recording it (the member's term
            # may even have moved already).
            recorded = _renewed(member, term_end, previous, at)
            return "renewed" if recorded else "already_renewed"
        if previous is not None and previous.status in Operation.IN_FLIGHT:
            in_flight = previous.pk
        else:
            in_flight = None
            if not (
                member.status == Member.Status.ACTIVE
                and member.auto_renew
                and schedule.renew_due(term_end, lead, at)
            ):
                return "not_due"
            action, claimed = _renew_action(member, term_end, at)
            if action is None:
                return "busy"
            if claimed:
                pass  # ours: go on to renew
            elif action.status == TermAction.Status.DONE:
                return "already_renewed"
            elif (
                action.status == TermAction.Status.CLAIMED
                and action.claimed_at > at - CLAIM_LEASE
                and not _claim_settled(action, previous)
            ):
                return "busy"
            else:  # waiting for credits, failed, or abandoned: take it over
                action.status = TermAction.Status.CLAIMED
                action.claimed_at = at
                action.attempts += 1
                action.save(update_fields=["status", "claimed_at", "attempts"])

    if in_flight is not None:
        # Its outcome is being decided: read the member back now, unless its caller may
        # still be in the upstream call (operation_resolve leaves it to the caller then).
        outcome = operations.operation_resolve(operation_id=in_flight, client=client)
        if outcome.operation.status == Operation.Status.SUCCEEDED:
            member = Member.objects.get(pk=member_id)
            recorded = _renewed(member, term_end, outcome.operation, at)
            return "renewed" if recorded else "already_renewed"
        return (
            "resolving" if outcome.operation.status in Operation.IN_FLIGHT else "failed"
        )

    try:
        outcome = operations.member_renew(
            uid=member.uid, actor=ACTOR, idempotency_key=key, client=client
        )
    except InsufficientCredits as exc:
        _renew_refused(member_id, term_end, at, exc, waiting=True)
        return "waiting_credits"
    except Conflict as exc:
        if exc.code == "MEMBER_BUSY":  # another change in flight: next run
            _renew_refused(member_id, term_end, at, exc, waiting=False, notify=False)
            return "busy"
        _renew_refused(member_id, term_end, at, exc, waiting=False)
        return "failed"
    except ServiceError as exc:
        transient = exc.status >= 500
        _renew_refused(
            member_id, term_end, at, exc, waiting=False, notify=not transient
        )
        return "failed"
    if outcome.operation.status == Operation.Status.SUCCEEDED:
        member = Member.objects.get(pk=member_id)
        recorded = _renewed(member, term_end, outcome.operation, at)
        return "renewed" if recorded else "already_renewed"
    return "resolving"


def _renew_action(
    member: Member, term_end: dt.datetime, at: dt.datetime
) -> tuple[TermAction | None, bool]:
    """The renewal claim of this term, locked, claiming it if nobody has: (action,
    claimed now). (None, False) if another worker claimed it in between."""
    action = (
        TermAction.objects.select_for_update()
        .filter(
            member=member, kind=TermAction.Kind.RENEW, term_end=term_end, days_before=0
        )
        .first()
    )
    if action is not None:
        return action, False
    action = action_claim(member, TermAction.Kind.RENEW, term_end, at)
    return action, action is not None


def _claim_settled(action: TermAction, op: Operation | None) -> bool:
    """The claim's own renewal was decided (and failed) but its worker never recorded
    that: it died, so the claim may be taken over without waiting out the lease."""
    return (
        op is not None
        and op.status == Operation.Status.FAILED
        and op.created_at >= action.claimed_at
    )


def _renewed(member: Member, term_end: dt.datetime, op: Operation, at) -> bool:
    """Record the renewal of the term that ended at `term_end` once: the claim row and
    the notification commit together. False if it was recorded already."""
    with transaction.atomic():
        member = member_locked(member.pk)
        action, _ = _renew_action(member, term_end, at)
        if action is None:
            return False
        if action.status == TermAction.Status.DONE:
            return False
        action.status = TermAction.Status.DONE
        action.operation = op
        action.done_at = at
        action.save(update_fields=["status", "operation", "done_at"])
        _term_notify(
            Notification.Event.RENEWED,
            member,
            term_end,
            amount=format_amount(op.amount),
            term_start=member.term_start,
            term_end=member.term_end,
            operation_id=op.pk,
        )
    return True


def _term_notify(event: str, member: Member, ended: dt.datetime, /, **data) -> None:
    """Tell the operator about the renewal of the term that ended at `ended`: once per
    event and term, the member as it is now first in the payload."""
    notification_record(
        event=event,
        dedupe_key=f"{event}:{member.pk}:{clock.iso_exact(ended)}",
        member=member,
        data={"member": member_snapshot(member), **data},
    )


def _renew_refused(
    member_id: int,
    term_end: dt.datetime,
    at: dt.datetime,
    exc: ServiceError,
    *,
    waiting: bool,
    notify: bool = True,
) -> None:
    """Nothing was charged. Leave the claim open for the next run and tell the operator
    once per term."""
    with transaction.atomic():
        member = member_locked(member_id)
        TermAction.objects.filter(
            member=member, kind=TermAction.Kind.RENEW, term_end=term_end, days_before=0
        ).exclude(status=TermAction.Status.DONE).update(
            status=(
                TermAction.Status.WAITING_CREDITS
                if waiting
                else TermAction.Status.FAILED
            ),
            detail={"code": exc.code, "error": exc.message, **exc.details},
        )
        if not notify:
            return
        details = exc.details or {}
        _term_notify(
            Notification.Event.RENEWAL_FAILED,
            member,
            term_end,
            reason=exc.code,
            message=exc.message,
            needed=details.get("required", format_amount(member.plan.price)),
            available=details.get("available"),
        )


def renew_claims_settle(
    *, at: dt.datetime | None = None, client: OrgClient | None = None
) -> int:
    """Finish renewals whose worker stopped after claiming: record those upstream
    applied (once), resolve those still in flight, and release the rest so the due
    scan can retry them. Reads only open claims (the (status, kind) index)."""
    at = at or clock.now()
    settled = 0
    claims = TermAction.objects.filter(
        kind=TermAction.Kind.RENEW, status=TermAction.Status.CLAIMED
    ).values_list("id", "member_id", "term_end", "claimed_at")
    for action_id, member_id, term_end, claimed_at in list(claims[:10_000]):
        op = (
            Operation.objects.filter(
                member_id=member_id, idempotency_key=renew_key(member_id, term_end)
            )
            .order_by("-id")
            .first()
        )
        stale = claimed_at <= at - CLAIM_LEASE
        if op is not None and op.status in Operation.IN_FLIGHT and stale:
            op = operations.operation_resolve(
                operation_id=op.pk, client=client
            ).operation
        if op is not None and op.status == Operation.Status.SUCCEEDED:
            if _renewed(Member.objects.get(pk=member_id), term_end, op, at):
                settled += 1
        elif stale and (op is None or op.status == Operation.Status.FAILED):
            TermAction.objects.filter(
                pk=action_id, status=TermAction.Status.CLAIMED
            ).update(status=TermAction.Status.FAILED, detail={"code": "ABANDONED"})
    return settled
