"""Scheduled member work: reminders before a term ends, auto-renewal ahead of the end,
expiry at the end, and the low-balance alert.

Exactly once. Every action belongs to one member's term and is claimed by inserting a
TermAction row (member, kind, term_end, days_before) under the member's row lock; the
unique constraint lets one claimer through however often beat fires and however many
workers race. Its side effects (the notification, the status change) commit in the same
transaction as the claim, so a worker that dies before commit leaves nothing claimed and
the next run does it.

An auto-renewal calls upstream, which cannot sit inside that transaction. It goes through
the foundation's operations with a key derived from the term (`auto-renew:<member>:<end>`):
the operation is recorded before the call, so after a crash or a retry the next run finds
it, resolves it by reading the member back if its outcome is unknown, and never sends a
second renewal for the same term. A renewal that upstream applied moves the member's
term_end, so the old term is no longer due.
"""

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from billing.money import format_amount
from members import schedule, selectors
from members.errors import Conflict, InsufficientCredits, ServiceError
from members.models import Member, Operation, OrgSettings, TermAction
from members.services import operations
from members.services.audit import audit_record
from members.services.org import org_settings
from members.upstream import OrgClient
from notifications.models import Notification
from orgportal import clock

log = logging.getLogger(__name__)

ACTOR = "system:scheduler"
# A claimed renewal whose worker went silent this long may be taken over. Longer than
# one upstream call with its retries, so a slow worker is not overtaken mid-call.
CLAIM_LEASE = dt.timedelta(minutes=10)


@dataclass
class RunReport:
    reminded: int = 0
    renewed: int = 0
    waiting_credits: int = 0
    renew_failed: int = 0
    expired: int = 0
    low_balance_alert: bool = False
    skipped: int = 0
    scanned: dict = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def renew_key(member_id: int, term_end: dt.datetime) -> str:
    return f"auto-renew:{member_id}:{int(term_end.timestamp())}"


def member_data(member: Member) -> dict:
    """The `data.member` object of member events."""
    from notifications.services.notify import member_snapshot

    return member_snapshot(member)


def _notify(**kwargs) -> None:
    from notifications.services.notify import notify

    notify(**kwargs)


def _member_locked(member_id: int) -> Member | None:
    """The member's row, locked for this transaction: every scheduled action on one
    member queues behind this lock."""
    return (
        Member.objects.select_for_update()
        .select_related("plan")
        .filter(pk=member_id)
        .first()
    )


def _claim(
    member: Member,
    kind: str,
    term_end: dt.datetime,
    at: dt.datetime,
    days: int = 0,
    *,
    done: bool = False,
) -> TermAction | None:
    """Insert the claim row; None when this action of this term is already taken.
    `done`: the action completes in the caller's transaction (reminder, expiry)."""
    try:
        with transaction.atomic():
            return TermAction.objects.create(
                member=member,
                kind=kind,
                term_end=term_end,
                days_before=days,
                status=TermAction.Status.DONE if done else TermAction.Status.CLAIMED,
                attempts=1,
                claimed_at=at,
                done_at=at if done else None,
                created_at=at,
            )
    except IntegrityError:
        return None


# --- the due scans: each an index range over due rows only -------------------------------


def reminders_due_ids(*, at: dt.datetime, limit: int = 10_000) -> list[int]:
    return list(
        Member.objects.filter(next_reminder_at__lte=at, status=Member.Status.ACTIVE)
        .order_by("next_reminder_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def renewals_due_ids(
    *, at: dt.datetime, lead: dt.timedelta, limit: int = 10_000
) -> list[int]:
    return list(
        selectors.members_renewing(within=lead, at=at)
        .order_by("term_end", "id")
        .values_list("id", flat=True)[:limit]
    )


def expiries_due_ids(*, at: dt.datetime, limit: int = 10_000) -> list[int]:
    return list(
        Member.objects.filter(status=Member.Status.ACTIVE, term_end__lte=at)
        .order_by("term_end", "id")
        .values_list("id", flat=True)[:limit]
    )


# --- reminders -----------------------------------------------------------------------------


def member_remind(
    *,
    member_id: int,
    at: dt.datetime | None = None,
    reminder_days: list[int] | None = None,
) -> bool:
    """Send the reminder now due for the member's term, if not sent already. True if
    one was sent."""
    at = at or clock.now()
    days_setting = (
        org_settings().reminder_days if reminder_days is None else reminder_days
    )
    with transaction.atomic():
        member = _member_locked(member_id)
        if member is None or member.status != Member.Status.ACTIVE:
            return False
        if member.next_reminder_at is None or member.next_reminder_at > at:
            return False  # rescheduled meanwhile
        days = schedule.reminder_due(member.term_end, days_setting, at)
        sent = False
        if days is not None:
            # A more urgent reminder of this term already out makes this one moot.
            already = TermAction.objects.filter(
                member=member,
                kind=TermAction.Kind.REMINDER,
                term_end=member.term_end,
                days_before__lte=days,
            ).exists()
            if not already and _claim(
                member, TermAction.Kind.REMINDER, member.term_end, at, days, done=True
            ):
                _notify(
                    event=Notification.Event.RENEWAL_DUE,
                    dedupe_key=(
                        f"member.renewal_due:{member.pk}:{clock.iso_exact(member.term_end)}:{days}"
                    ),
                    member=member,
                    data={
                        "member": member_data(member),
                        "days_before": days,
                        "price": format_amount(member.plan.price),
                        "auto_renew": member.auto_renew,
                    },
                )
                sent = True
            member.next_reminder_at = schedule.reminder_after(
                member.term_end, days_setting, days
            )
        else:
            # Not yet due (settings changed) or the term is over: point at the next one.
            upcoming = [
                member.term_end - d * schedule.DAY
                for d in days_setting
                if d > 0 and member.term_end - d * schedule.DAY > at
            ]
            member.next_reminder_at = min(upcoming) if upcoming else None
        member.save(update_fields=["next_reminder_at"])
    return sent


# --- auto-renewal -------------------------------------------------------------------------


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
        member = _member_locked(member_id)
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
    action = _claim(member, TermAction.Kind.RENEW, term_end, at)
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
        member = _member_locked(member.pk)
        action, _ = _renew_action(member, term_end, at)
        if action is None:
            return False
        if action.status == TermAction.Status.DONE:
            return False
        action.status = TermAction.Status.DONE
        action.operation = op
        action.done_at = at
        action.save(update_fields=["status", "operation", "done_at"])
        _notify(
            event=Notification.Event.RENEWED,
            dedupe_key=f"member.renewed:{member.pk}:{clock.iso_exact(term_end)}",
            member=member,
            data={
                "member": member_data(member),
                "amount": format_amount(op.amount),
                "term_start": member.term_start,
                "term_end": member.term_end,
                "operation_id": op.pk,
            },
        )
    return True


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
        member = _member_locked(member_id)
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
        _notify(
            event=Notification.Event.RENEWAL_FAILED,
            dedupe_key=f"member.renewal_failed:{member.pk}:{clock.iso_exact(term_end)}",
            member=member,
            data={
                "member": member_data(member),
                "reason": exc.code,
                "message": exc.message,
                "needed": details.get("required", format_amount(member.plan.price)),
                "available": details.get("available"),
            },
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


# --- expiry -------------------------------------------------------------------------------


def member_expire(*, member_id: int, at: dt.datetime | None = None) -> bool:
    """Mark a member whose term has ended as expired, once. Gateways refuse it from the
    instant the term ends whether or not this has run; this makes it visible everywhere
    and tells the operator."""
    at = at or clock.now()
    with transaction.atomic():
        member = _member_locked(member_id)
        if (
            member is None
            or member.status != Member.Status.ACTIVE
            or member.term_end > at
        ):
            return False
        if Operation.objects.filter(
            member_uid=member.uid, status__in=Operation.IN_FLIGHT
        ).exists():
            # A change or renewal is being decided; it may move the term. Next run.
            return False
        if (
            _claim(member, TermAction.Kind.EXPIRE, member.term_end, at, done=True)
            is None
        ):
            return False
        before = {"status": member.status}
        member.status = Member.Status.EXPIRED
        member.next_reminder_at = None
        member.updated_at = at
        member.save(update_fields=["status", "next_reminder_at", "updated_at"])
        # A renewal still waiting for credits has run out of time.
        TermAction.objects.filter(
            member=member, kind=TermAction.Kind.RENEW, term_end=member.term_end
        ).exclude(status=TermAction.Status.DONE).update(
            status=TermAction.Status.SKIPPED, done_at=at
        )
        audit_record(
            actor=ACTOR,
            action="member.expire",
            obj=("member", member.uid),
            before=before,
            after={
                "status": member.status,
                "term_end": clock.iso_exact(member.term_end),
            },
        )
        _notify(
            event=Notification.Event.EXPIRED,
            dedupe_key=f"member.expired:{member.pk}:{clock.iso_exact(member.term_end)}",
            member=member,
            data={"member": member_data(member), "expired_at": member.term_end},
        )
        from members.services import cache_events

        member_pk = member.pk
        transaction.on_commit(lambda: cache_events.member_changed(member_pk))
    return True


# --- low balance ----------------------------------------------------------------------


def low_balance_check(*, at: dt.datetime | None = None) -> bool:
    """Alert once per episode when the wallet cannot cover the auto-renewals due in the
    window; the episode ends when it can again. True if an alert went out."""

    at = at or clock.now()
    org_settings()
    with transaction.atomic():
        row = OrgSettings.objects.select_for_update().get(pk=1)
        forecast = selectors.balance_forecast(days=row.low_balance_days, at=at)
        if forecast["shortfall"] == 0:
            if row.low_balance_since is not None:
                row.low_balance_since = None
                row.save(update_fields=["low_balance_since"])
            return False
        if row.low_balance_since is not None:
            return False
        row.low_balance_since = at
        row.save(update_fields=["low_balance_since"])
        _notify(
            event=Notification.Event.LOW_BALANCE,
            dedupe_key=f"org.low_balance:{clock.iso_exact(at)}",
            data={
                "balance": format_amount(forecast["balance"]),
                "available": format_amount(forecast["available"]),
                "forecast": format_amount(forecast["due"]),
                "renewals": forecast["renewals"],
                "window_days": forecast["window_days"],
                "shortfall": format_amount(forecast["shortfall"]),
            },
        )
    return True


# --- the run --------------------------------------------------------------------------


def renewals_run(
    *,
    at: dt.datetime | None = None,
    client: OrgClient | None = None,
    budget_s: float | None = None,
) -> RunReport:
    """One pass of the scheduler: reminders, auto-renewals, expiries, then the
    low-balance forecast. Safe to run twice at once. With a time budget it stops
    early; what is left is still due on the next run."""
    started = time.monotonic()
    at = at or clock.now()
    report = RunReport()
    row = org_settings()
    lead = dt.timedelta(hours=row.renew_lead_hours)

    def out_of_time() -> bool:
        return budget_s is not None and time.monotonic() - started > budget_s

    reminder_ids = reminders_due_ids(at=at)
    report.scanned["reminders"] = len(reminder_ids)
    for member_id in reminder_ids:
        if out_of_time():
            break
        if member_remind(member_id=member_id, at=at, reminder_days=row.reminder_days):
            report.reminded += 1

    report.renewed += renew_claims_settle(at=at, client=client)

    renew_ids = renewals_due_ids(at=at, lead=lead)
    report.scanned["renewals"] = len(renew_ids)
    for member_id in renew_ids:
        if out_of_time():
            break
        try:
            result = member_auto_renew(member_id=member_id, at=at, client=client)
        except Exception:
            # One member's failure must not stop the others; it is due again next run.
            log.exception("auto-renewal failed", extra={"member": member_id})
            report.renew_failed += 1
            continue
        if result == "renewed":
            report.renewed += 1
        elif result == "waiting_credits":
            report.waiting_credits += 1
        elif result == "failed":
            report.renew_failed += 1
        else:
            report.skipped += 1

    expire_ids = expiries_due_ids(at=at)
    report.scanned["expiries"] = len(expire_ids)
    for member_id in expire_ids:
        if out_of_time():
            break
        if member_expire(member_id=member_id, at=at):
            report.expired += 1

    report.low_balance_alert = low_balance_check(at=at)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def reminders_reschedule(*, actor: str) -> int:
    """After the reminder days change: point every active member at its first reminder
    under the new setting. A reminder whose time has passed is sent on the next run only
    if no more urgent one of the same term went out; none is sent twice."""
    from django.db.models import F

    days = [d for d in org_settings().reminder_days if d > 0]
    live = Member.objects.filter(status=Member.Status.ACTIVE)
    if days:
        count = live.update(next_reminder_at=F("term_end") - max(days) * schedule.DAY)
    else:
        count = live.update(next_reminder_at=None)
    log.info("reminders rescheduled", extra={"members": count, "actor": actor})
    return count
