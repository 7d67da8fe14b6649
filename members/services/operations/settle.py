"""Step 3 of the protocol: how an operation ends, at most once, under the member and
operation locks, with the wallet's statements last. A confirmed operation is settled by the function for its kind: the
member takes upstream's answer, a new paid term is recorded, the ledger posts the
amount. A failed one releases its hold and charges nothing."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from billing import proration
from billing.models import LedgerTransaction
from billing.money import format_amount
from billing.services import ledger
from members import caches, schedule
from members.crypto import encrypt
from members.models import Member, MemberTerm, Operation, Plan
from members.selectors import org_settings
from members.services import cache_events
from members.services.audit import audit_record
from members.services.idempotency import idempotency_settled
from members.services.keys import gateway_key_issue, gateway_keys_revoke
from members.services.operations.member_settings import settings_apply
from members.services.operations.state import member_lock, open_terms, paid_terms
from members.services.plans import plans_sync
from members.services.writes import (
    insert_later,
    row_fields,
    update_later,
    writes_together,
)
from orgportal import clock
from orgportal.metrics import MEMBER_OPERATIONS


@dataclass
class Outcome:
    operation: Operation
    member: Member | None
    api_key: str | None = None  # a new gateway key, in full, when one was issued

    @property
    def settled(self) -> bool:
        return self.operation.status == Operation.Status.SUCCEEDED


@dataclass(frozen=True)
class _Kind:
    """How an operation of one kind settles: `apply` makes the member what upstream now
    reports (returning it and a gateway key issued, if any); the ledger posts the
    amount as `ledger_kind` with `memo` (formatted with uid, plan and from_plan)."""

    apply: Callable[..., tuple[Member, str | None]]
    ledger_kind: str
    memo: str
    creates: bool = False  # the member (and so its ledger account) is new


def parse_time(value: str) -> dt.datetime:
    """An upstream timestamp, made timezone-aware (UTC when upstream leaves it out)."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- success ----------------------------------------------------------------------------


def operation_settle(op: Operation, upstream: dict | None) -> Outcome:
    """Settle `op`, which upstream applied; `upstream` is the member as upstream answered
    or reads it back (None once deleted there). Locks in the one order: the member, the
    operation, then the wallet, whose statements come last."""
    try:
        outcome = _settled(op, upstream)
    except _SettledElsewhere:
        op = Operation.objects.select_related("member").get(pk=op.pk)
        return Outcome(operation=op, member=op.member)
    member = outcome.member
    transaction.on_commit(lambda: MEMBER_OPERATIONS.labels(op.kind, "succeeded").inc())
    transaction.on_commit(lambda: cache_events.member_changed(member.pk))
    return outcome


class _SettledElsewhere(Exception):
    """The operation was no longer in flight when its settle came to end it."""


def _settled(op: Operation, upstream: dict | None) -> Outcome:
    """The settle's transaction: the member's and the operation's rows (with their
    audit rows, written together), then the money, whose statements alone lock the
    wallet."""
    with transaction.atomic():
        with writes_together():  # one round trip on PostgreSQL
            outcome, hold, account, ended = _ended(op, upstream)
        if not ended.rows:
            raise _SettledElsewhere  # the whole transaction rolls back
        member, kind = outcome.member, _KINDS[op.kind]
        ledger.operation_money_settle(
            hold=hold,
            amount=op.amount,
            member_account=account,
            kind=kind.ledger_kind,
            memo=kind.memo.format(
                uid=member.uid,
                plan=member.plan.name,
                from_plan=op.expected.get("plan"),
            ),
            actor=op.actor,
            member=member,
            operation=op,
        )
    return outcome


def _ended(op: Operation, upstream: dict | None):
    """The member made what upstream reports and the operation ended: (the outcome, the
    hold it had, the member's ledger account if the amount is posted, the write that
    ends the operation). The operation's row is locked by that write, which ends it
    only if it is still in flight (none: another process settled or failed it
    meanwhile). Rows written here are written together (`writes_together`): none reads
    another's."""
    member = _member_locked(op.member_id)
    if member is None and not _in_flight_locked(op):
        # A create has no member to lock first: its operation is locked before the
        # member is inserted, which a create settled meanwhile already did.
        raise _SettledElsewhere
    now = clock.now()
    before = _snapshot(member) if member else None
    kind = _KINDS[op.kind]
    member, api_key = kind.apply(op, member, upstream, now=now)
    if not kind.creates:
        member.updated_at = now
        update_later(Member.objects.filter(pk=member.pk), **row_fields(member))
    hold = op.hold  # set when recorded, changed only by what ends the operation
    op.status = Operation.Status.SUCCEEDED
    op.hold = 0
    op.result = _redacted(upstream)
    op.resolved_at = now
    ended = update_later(
        Operation.objects.filter(pk=op.pk, status__in=Operation.IN_FLIGHT),
        status=op.status,
        hold=0,
        result=op.result,
        resolved_at=now,
        member=member,
    )
    account = ledger.account_for_member(member, new=kind.creates) if op.amount else None
    audit_record(
        actor=op.actor,
        action=f"member.{op.kind}",
        obj=("member", member.uid),
        before=before,
        after={
            **_snapshot(member),
            "amount": format_amount(op.amount),
            "operation": op.pk,
        },
    )
    outcome = Outcome(operation=op, member=member, api_key=api_key)
    # The response of the request that recorded it, stored with the settle (or a key
    # issued kept: the response carrying it may be lost, a retry shows it).
    idempotency_settled(outcome)
    return outcome, hold, account, ended


def _in_flight_locked(op: Operation) -> bool:
    return (
        Operation.objects.select_for_update(of=("self",))
        .filter(pk=op.pk, status__in=Operation.IN_FLIGHT)
        .exists()
    )


def _member_locked(member_id: int | None) -> Member | None:
    if member_id is None:
        return None
    return member_lock("pk", member_id, settling=True)


def _settle_create(
    op: Operation, member: None, upstream: dict, *, now: dt.datetime
) -> tuple[Member, str]:
    """The member is recorded as upstream created it, with its first gateway key."""
    member = Member(
        uid=op.member_uid,
        term_start=op.started_at,
        upstream_key_encrypted=encrypt(upstream.get("api_key") or ""),
        auto_renew=op.request.get("auto_renew", True),
        created_at=now,
        updated_at=now,
        **_upstream_fields(upstream),
    )
    _reminders_restart(member)
    member.save(force_insert=True)
    op.member = member
    _term_record(op, member, now)
    api_key = gateway_key_issue(member=member, actor=op.actor, revoke_others=False)
    return member, api_key


def _settle_change(
    op: Operation, member: Member, upstream: dict, *, now: dt.datetime
) -> tuple[Member, None]:
    """Another plan: what was paid ends at the change, prorated into its amount, and the
    new plan's term starts then."""
    _terms_close(member, op.started_at)
    member.term_start = op.started_at
    return _new_term(op, member, upstream, now=now), None


def _settle_renew(
    op: Operation, member: Member, upstream: dict, *, now: dt.datetime
) -> tuple[Member, None]:
    """The same plan for another term, paid in full; the term's end is upstream's."""
    terms = paid_terms(open_terms(member, op.started_at))
    was_active = op.expected.get("status") == Member.Status.ACTIVE
    member.term_start, _ = proration.renewal_period(
        terms if was_active else [], at=op.started_at
    )
    return _new_term(op, member, upstream, now=now), None


def _new_term(
    op: Operation, member: Member, upstream: dict, *, now: dt.datetime
) -> Member:
    """A change or renewal: the member as upstream now reports it, with the local
    settings sent with the change, and its new term recorded."""
    for name, value in _upstream_fields(upstream, known=member.plan).items():
        setattr(member, name, value)
    if upstream.get("api_key"):
        member.upstream_key_encrypted = encrypt(upstream["api_key"])
    settings_apply(member, op.request)
    _reminders_restart(member)
    _term_record(op, member, now)
    return member


def _settle_cancel(
    op: Operation, member: Member, upstream: dict | None, *, now: dt.datetime
) -> tuple[Member, None]:
    """The unused time of what was paid is credited; access ends when upstream says."""
    _ending(op, member, Member.Status.CANCELLED)
    if upstream is not None:
        member.term_end = parse_time(upstream["plan_end_at"])
    else:
        member.term_end = min(member.term_end, op.started_at)
    return member, None


def _settle_delete(
    op: Operation, member: Member, upstream: None, *, now: dt.datetime
) -> tuple[Member, None]:
    """Credited as a cancel would be; the local record and its history stay, marked
    deleted, and its gateway keys stop working."""
    _ending(op, member, Member.Status.DELETED)
    member.deleted_at = now
    gateway_keys_revoke(member=member, actor=op.actor)
    return member, None


def _ending(op: Operation, member: Member, status: str) -> None:
    """A cancel or delete: what was paid ends now if any of it is credited back."""
    if op.amount != 0:
        _terms_close(member, op.started_at)
    member.status = status


_LEDGER = LedgerTransaction.Kind
_KINDS: dict[str, _Kind] = {
    Operation.Kind.CREATE: _Kind(
        _settle_create, _LEDGER.MEMBER_CREATE, "Created {uid} on {plan}", creates=True
    ),
    Operation.Kind.CHANGE: _Kind(
        _settle_change, _LEDGER.MEMBER_CHANGE, "{uid}: {from_plan} → {plan}, prorated"
    ),
    Operation.Kind.RENEW: _Kind(
        _settle_renew, _LEDGER.MEMBER_RENEW, "Renewed {uid} on {plan}"
    ),
    Operation.Kind.CANCEL: _Kind(
        _settle_cancel, _LEDGER.MEMBER_CANCEL, "Cancelled {uid}: unused time credited"
    ),
    Operation.Kind.DELETE: _Kind(
        _settle_delete, _LEDGER.MEMBER_DELETE, "Deleted {uid}: unused time credited"
    ),
}


def _reminders_restart(member: Member) -> None:
    """A new term end restarts its reminders (saved with the member)."""
    member.next_reminder_at = schedule.first_reminder_at(
        member.term_end, org_settings().reminder_days
    )


def _term_record(op: Operation, member: Member, now: dt.datetime) -> None:
    """Record the paid term `op` bought, from the member's term start to its end."""
    insert_later(
        MemberTerm(
            member=member,
            plan_name=member.plan.name,
            price=member.plan.price,
            start=member.term_start,
            end=member.term_end,
            operation=op,
            created_at=now,
        )
    )


def _terms_close(member: Member, at: dt.datetime) -> None:
    """End every paid term early at `at` (a renewal paid ahead is voided: its refund or
    credit was part of the same operation)."""
    update_later(member.terms.filter(closed_at=None, end__gt=at), closed_at=at)


def _upstream_fields(upstream: dict, *, known: Plan | None = None) -> dict:
    """The member's fields as upstream reports them; `known`: a plan already read, used
    when it is the one upstream names."""
    plan = known if known is not None and known.name == upstream["plan"] else None
    if plan is None:
        plan = caches.plan_named(upstream["plan"])
    if plan is None:
        plans_sync()
        plan = Plan.objects.get(name=upstream["plan"])
    status = upstream.get("status", "active")
    if status not in Member.Status.values:
        status = Member.Status.ACTIVE
    return {
        "plan": plan,
        "full_name": upstream.get("full_name") or "",
        "email": upstream.get("email") or "",
        "status": status,
        "term_end": parse_time(upstream["plan_end_at"]),
        "upstream_created_at": parse_time(upstream["created_at"]),
        "rate_limit": upstream.get("rate_limit", plan.rate_limit),
        "quota": upstream.get("quota", plan.quota),
        "websocket_symbols": upstream.get("websocket_symbols", plan.websocket_symbols),
        "websocket_connections": upstream.get(
            "websocket_connections", plan.websocket_connections
        ),
        "newsfeed": bool(upstream.get("newsfeed", True)),
        # Not `quota_exceeded`: upstream's flag counts its own requests, the member's
        # flag says this product's gateway refused them (members.services.quota).
    }


def _snapshot(member: Member) -> dict:
    return {
        "plan": member.plan.name,
        "status": member.status,
        "term_start": member.term_start.isoformat(),
        "term_end": member.term_end.isoformat(),
        "full_name": member.full_name,
    }


def _redacted(upstream: dict | None) -> dict | None:
    if upstream is None:
        return None
    return {k: v for k, v in upstream.items() if k != "api_key"}


# --- failure ----------------------------------------------------------------------------


def operation_fail(
    op: Operation, exc: Exception | None, code: str | None = None
) -> None:
    """End `op` as failed: its hold is released and nothing is charged."""
    error = {
        "code": code or getattr(exc, "code", None) or type(exc).__name__,
        "message": getattr(exc, "message", str(exc)) if exc else "not applied upstream",
    }
    with transaction.atomic():
        # The operation row first, the wallet last: the one lock order. Only the
        # transaction that ends the operation releases what it held.
        updated = Operation.objects.filter(
            pk=op.pk, status__in=Operation.IN_FLIGHT
        ).update(
            status=Operation.Status.FAILED, error=error, hold=0, resolved_at=clock.now()
        )
        if updated:
            audit_record(
                actor=op.actor,
                action=f"member.{op.kind}.failed",
                obj=("member", op.member_uid),
                after={"operation": op.pk, **error},
            )
            ledger.wallet_release(op.hold)
    if updated:
        transaction.on_commit(lambda: MEMBER_OPERATIONS.labels(op.kind, "failed").inc())
    op.refresh_from_db()
