"""Member mutations against the upstream Organization API, with exact money.

The protocol for every mutation (design.md, "Consistency with the upstream"):
1. Under the wallet lock, price it, check the wallet can pay (402 before any upstream
   call), and record an Operation holding the charge. One operation per member may be in
   flight: a second one gets 409 MEMBER_BUSY.
2. Call upstream with no database transaction open.
3. On a definitive answer, post the ledger entries (success) or release the hold (failure).
   On an unknown outcome (timeout, dropped connection, 5xx), read the member back from
   upstream to decide; if upstream cannot be read either, a Celery task keeps trying.
Confirmation is idempotent: an operation is settled at most once, under lock.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from billing import proration
from billing.models import Account, LedgerTransaction
from billing.money import format_amount
from billing.services import ledger
from members import schedule
from members.crypto import encrypt
from members.errors import Conflict, NotFound, ServiceError, UpstreamFailed
from members.models import GatewayKey, Member, MemberTerm, Operation, Plan
from members.services.audit import audit_record
from members.services.idempotency import idempotency_bind, idempotency_keep_issued_key
from members.services.keys import gateway_key_issue, gateway_keys_revoke
from members.services.org import org_settings
from members.services.plans import plan_for_new_term, plans_sync
from members.uids import RULE as UID_RULE
from members.uids import uid_problem
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
    call_deadline_s,
    shared_client,
)
from orgportal import clock
from orgportal.metrics import MEMBER_OPERATIONS

log = logging.getLogger(__name__)

NAME_MAX = 200


@dataclass
class Outcome:
    operation: Operation
    member: Member | None
    api_key: str | None = None  # a new gateway key, in full, when one was issued

    @property
    def settled(self) -> bool:
        return self.operation.status == Operation.Status.SUCCEEDED


@dataclass(frozen=True)
class Preview:
    from_plan: str | None
    to_plan: str
    amount: int  # hundredths; positive charges, negative credits
    balance: int
    available: int
    term_start: dt.datetime
    term_end: dt.datetime

    @property
    def charge(self) -> int:
        return max(self.amount, 0)

    @property
    def refund(self) -> int:
        return max(-self.amount, 0)

    @property
    def balance_after(self) -> int:
        return self.balance - self.amount


# --- reading state ------------------------------------------------------------------


def effective_status(member: Member, at: dt.datetime | None = None) -> str:
    at = at or clock.now()
    if member.status == Member.Status.ACTIVE and member.term_end <= at:
        return Member.Status.EXPIRED
    return member.status


def open_terms(member: Member, at: dt.datetime) -> list[MemberTerm]:
    """Paid terms not closed early that still have time left at `at`: the running one and
    any renewal paid ahead."""
    return list(member.terms.filter(closed_at=None, end__gt=at).order_by("start", "id"))


def _paid(terms: list[MemberTerm]) -> list[proration.PaidTerm]:
    return [proration.PaidTerm(price=t.price, start=t.start, end=t.end) for t in terms]


def _close_terms(member: Member, at: dt.datetime) -> None:
    """End every paid term early at `at` (a renewal paid ahead is voided: its refund or
    credit was part of the same operation)."""
    member.terms.filter(closed_at=None, end__gt=at).update(closed_at=at)


def member_get_live(uid: str) -> Member:
    member = (
        Member.objects.select_related("plan")
        .filter(uid=uid)
        .exclude(status=Member.Status.DELETED)
        .first()
    )
    if member is None:
        raise NotFound(
            f"No member with uid {uid!r}", code="MEMBER_NOT_FOUND", details={"uid": uid}
        )
    return member


# --- validation ---------------------------------------------------------------------


def _check_uid(uid) -> str:
    problem = uid_problem(uid)
    if problem:
        raise ServiceError(
            f"{problem}. A uid is {UID_RULE}.",
            code="VALIDATION_ERROR",
            details={"uid": [problem], "rule": UID_RULE},
        )
    return uid


def _check_name(full_name) -> str | None:
    if full_name is None:
        return None
    if not isinstance(full_name, str) or len(full_name) > NAME_MAX:
        raise ServiceError(
            f"full_name must be a string of at most {NAME_MAX} characters",
            code="VALIDATION_ERROR",
            details={"full_name": [f"at most {NAME_MAX} characters"]},
        )
    return full_name


# --- pricing (pure given the member's terms) ---------------------------------------------


def _price_change(member: Member, plan: Plan, at: dt.datetime) -> tuple[str, int]:
    """(kind, amount) for putting `member` on `plan` at `at`."""
    status = effective_status(member, at)
    if plan.pk == member.plan_id:
        return Operation.Kind.RENEW, plan.price
    if status != Member.Status.ACTIVE:
        return (
            Operation.Kind.CHANGE,
            plan.price,
        )  # nothing left to prorate: bought whole
    return Operation.Kind.CHANGE, proration.change_charge(
        _paid(open_terms(member, at)), new_price=plan.price, at=at
    )


def _unused(member: Member, at: dt.datetime) -> int:
    if effective_status(member, at) != Member.Status.ACTIVE:
        return 0
    return proration.unused_value(_paid(open_terms(member, at)), at)


def member_preview(*, uid: str, plan: str, at: dt.datetime | None = None) -> Preview:
    """What putting the member on `plan` would cost at `at` (default now). No side effects."""
    member = member_get_live(uid)
    target = plan_for_new_term(plan)
    at = at or clock.now()
    _, amount = _price_change(member, target, at)
    wallet = ledger.account_system(ledger.WALLET)
    if target.pk == member.plan_id:
        start, end = proration.renewal_period(
            _paid(open_terms(member, at))
            if effective_status(member, at) == "active"
            else [],
            at=at,
        )
    else:
        start, end = at, at + proration.TERM
    return Preview(
        from_plan=member.plan.name,
        to_plan=target.name,
        amount=amount,
        balance=wallet.balance,
        available=ledger.wallet_available(wallet),
        term_start=start,
        term_end=end,
    )


def member_create_preview(*, plan: str, at: dt.datetime | None = None) -> Preview:
    """What creating a member on `plan` would charge: the plan's full price."""
    target = plan_for_new_term(plan)
    at = at or clock.now()
    wallet = ledger.account_system(ledger.WALLET)
    return Preview(
        from_plan=None,
        to_plan=target.name,
        amount=target.price,
        balance=wallet.balance,
        available=ledger.wallet_available(wallet),
        term_start=at,
        term_end=at + proration.TERM,
    )


def member_cancel_preview(*, uid: str, at: dt.datetime | None = None) -> Preview:
    """What cancelling or deleting the member at `at` (default now) would credit back:
    the unused time of what was paid, as member_cancel and member_delete price it."""
    member = member_get_live(uid)
    at = at or clock.now()
    wallet = ledger.account_system(ledger.WALLET)
    return Preview(
        from_plan=member.plan.name,
        to_plan=member.plan.name,
        amount=-_unused(member, at),
        balance=wallet.balance,
        available=ledger.wallet_available(wallet),
        term_start=member.term_start,
        term_end=min(member.term_end, at),
    )


# --- the protocol ---------------------------------------------------------------------


def _record(
    *,
    wallet: Account,
    kind: str,
    uid: str,
    member: Member | None,
    amount: int,
    request: dict,
    actor: str,
    idempotency_key: str,
    at: dt.datetime,
) -> Operation:
    """Step 1: called inside an atomic block holding the wallet lock."""
    problem = uid_problem(uid)
    if problem:
        # Only a member recorded before the uid rule can get here; reconcile reports it.
        raise Conflict(
            f"Member {uid!r} cannot be changed upstream: {problem}. Its uid must be "
            f"{UID_RULE}; reconcile lists such members.",
            code="UID_NOT_ADDRESSABLE",
            details={"uid": uid, "rule": UID_RULE},
        )
    if amount > 0:
        ledger.require_available(wallet, amount)
    expected = {}
    if member is not None:
        expected = {
            "plan": member.plan.name,
            "status": effective_status(member, at),
            "plan_end_at": member.term_end.isoformat(),
        }
    try:
        with transaction.atomic():
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
    idempotency_bind(op)
    return op


def _call(op: Operation, client: OrgClient) -> dict | None:
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


def _execute(op: Operation, client: OrgClient | None) -> Outcome:
    """Steps 2 and 3."""
    client = client or shared_client()
    try:
        upstream = _call(op, client)
    except (UpstreamConflict, UpstreamNotFound) as exc:
        if op.kind in (Operation.Kind.CANCEL, Operation.Kind.DELETE):
            # Upstream says it is already cancelled or gone: read back and settle.
            return _resolve(op, client, inline=True)
        _fail(op, exc)
        raise _map_rejection(op, exc) from None
    except UpstreamRejected as exc:
        _fail(op, exc)
        raise _map_rejection(op, exc) from None
    except UpstreamUnavailable as exc:
        _fail(op, exc)
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
        return _resolve(op, client, inline=True)
    return _confirm(op, upstream)


def _map_rejection(op: Operation, exc: UpstreamError) -> ServiceError:
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


def _fail(op: Operation, exc: Exception | None, code: str | None = None) -> None:
    error = {
        "code": code or getattr(exc, "code", None) or type(exc).__name__,
        "message": getattr(exc, "message", str(exc)) if exc else "not applied upstream",
    }
    with transaction.atomic():
        ledger.wallet_lock()  # releasing a hold is a wallet change: same lock order
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
    if updated:
        transaction.on_commit(lambda: MEMBER_OPERATIONS.labels(op.kind, "failed").inc())
    op.refresh_from_db()


def _was_applied(op: Operation, upstream: dict | None) -> bool:
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
    before = _parse_time(exp["plan_end_at"])
    after = _parse_time(upstream["plan_end_at"])
    if op.kind == Operation.Kind.RENEW and exp.get("status") == "active":
        return after > before
    return after != before or (
        exp.get("status") != "active" and upstream.get("status") == "active"
    )


def _resolve(op: Operation, client: OrgClient, *, inline: bool = False) -> Outcome:
    """Decide an operation whose outcome is unknown by reading the member back."""
    Operation.objects.filter(pk=op.pk).update(resolve_attempts=op.resolve_attempts + 1)
    try:
        upstream = client.member_get(uid=op.member_uid)
    except UpstreamNotFound:
        upstream = None
    except UpstreamError:
        log.warning("operation outcome still unknown", extra={"operation": op.pk})
        if inline:
            from members.tasks import operation_resolve

            transaction.on_commit(lambda: operation_resolve.delay(op.pk))
        op.refresh_from_db()
        return Outcome(operation=op, member=op.member)
    if _was_applied(op, upstream):
        return _confirm(op, upstream)
    if upstream is None and op.kind != Operation.Kind.CREATE:
        _fail(op, None, code="MEMBER_NOT_FOUND_UPSTREAM")
        if inline:
            raise NotFound(
                f"Member {op.member_uid!r} does not exist upstream; nothing was "
                "charged or credited. Reconcile reports it.",
                code="MEMBER_NOT_FOUND_UPSTREAM",
                details={"uid": op.member_uid},
            )
        return Outcome(operation=op, member=op.member)
    _fail(op, None, code="NOT_APPLIED")
    if inline:
        raise UpstreamFailed(
            "The upstream did not apply the change; nothing was charged. Try again.",
            code="UPSTREAM_UNAVAILABLE",
            status=503,
        )
    return Outcome(operation=op, member=op.member)


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
    return _resolve(op, client or shared_client())


def operations_in_flight(*, older_than: dt.timedelta) -> list[int]:
    cutoff = clock.now() - older_than
    return list(
        Operation.objects.filter(status__in=Operation.IN_FLIGHT, created_at__lte=cutoff)
        .order_by("id")
        .values_list("id", flat=True)
    )


# --- settling a confirmed operation ------------------------------------------------------


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _upstream_fields(upstream: dict) -> dict:
    plan = Plan.objects.filter(name=upstream["plan"]).first()
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
        "term_end": _parse_time(upstream["plan_end_at"]),
        "upstream_created_at": _parse_time(upstream["created_at"]),
        "rate_limit": upstream.get("rate_limit", plan.rate_limit),
        "quota": upstream.get("quota", plan.quota),
        "websocket_symbols": upstream.get("websocket_symbols", plan.websocket_symbols),
        "websocket_connections": upstream.get(
            "websocket_connections", plan.websocket_connections
        ),
        "newsfeed": bool(upstream.get("newsfeed", True)),
        "quota_exceeded": bool(upstream.get("quota_exceeded", False)),
    }


def _snapshot(member: Member) -> dict:
    return {
        "plan": member.plan.name,
        "status": member.status,
        "term_start": member.term_start.isoformat(),
        "term_end": member.term_end.isoformat(),
        "full_name": member.full_name,
    }


_LEDGER_KIND = {
    Operation.Kind.CREATE: LedgerTransaction.Kind.MEMBER_CREATE,
    Operation.Kind.CHANGE: LedgerTransaction.Kind.MEMBER_CHANGE,
    Operation.Kind.RENEW: LedgerTransaction.Kind.MEMBER_RENEW,
    Operation.Kind.CANCEL: LedgerTransaction.Kind.MEMBER_CANCEL,
    Operation.Kind.DELETE: LedgerTransaction.Kind.MEMBER_DELETE,
}


def _confirm(op: Operation, upstream: dict | None) -> Outcome:
    api_key = None
    with transaction.atomic():
        wallet = ledger.wallet_lock()
        op = Operation.objects.select_for_update().get(pk=op.pk)
        if op.status not in Operation.IN_FLIGHT:  # settled by someone else meanwhile
            return Outcome(operation=op, member=op.member)
        at = op.started_at
        now = clock.now()
        member = (
            Member.objects.select_for_update()
            .select_related("plan")
            .get(pk=op.member_id)
            if op.member_id
            else None
        )
        before = _snapshot(member) if member else None

        if op.kind == Operation.Kind.CREATE:
            fields = _upstream_fields(upstream)
            member = Member.objects.create(
                uid=op.member_uid,
                term_start=at,
                upstream_key_encrypted=encrypt(upstream.get("api_key") or ""),
                auto_renew=op.request.get("auto_renew", True),
                created_at=now,
                updated_at=now,
                **fields,
            )
            op.member = member
        elif op.kind in (Operation.Kind.CHANGE, Operation.Kind.RENEW):
            terms = open_terms(member, at)
            was_active = op.expected.get("status") == Member.Status.ACTIVE
            if op.kind == Operation.Kind.CHANGE:
                _close_terms(member, at)
            fields = _upstream_fields(upstream)
            if op.kind == Operation.Kind.RENEW and was_active and terms:
                member.term_start = max(t.end for t in terms)
            else:
                member.term_start = at
            for name, value in fields.items():
                setattr(member, name, value)
            if upstream.get("api_key"):
                member.upstream_key_encrypted = encrypt(upstream["api_key"])
            _apply_settings(member, op.request)
            member.updated_at = now
            member.save()
        elif op.kind in (Operation.Kind.CANCEL, Operation.Kind.DELETE):
            if op.amount != 0:
                _close_terms(member, at)
            if op.kind == Operation.Kind.CANCEL:
                if upstream is not None:
                    member.term_end = _parse_time(upstream["plan_end_at"])
                else:
                    member.term_end = min(member.term_end, at)
                member.status = Member.Status.CANCELLED
            else:
                member.status = Member.Status.DELETED
                member.deleted_at = now
                gateway_keys_revoke(member=member, actor=op.actor)
            member.updated_at = now
            member.save()

        if op.kind in (
            Operation.Kind.CREATE,
            Operation.Kind.CHANGE,
            Operation.Kind.RENEW,
        ):
            # A new term end restarts its reminders.
            member.next_reminder_at = schedule.first_reminder_at(
                member.term_end, org_settings().reminder_days
            )
            member.save(update_fields=["next_reminder_at"])
            MemberTerm.objects.create(
                member=member,
                plan_name=member.plan.name,
                price=member.plan.price,
                start=member.term_start,
                end=member.term_end,
                operation=op,
                created_at=now,
            )

        txn = None
        if op.amount != 0:
            txn = ledger.transaction_post(
                kind=_LEDGER_KIND[op.kind],
                memo=_memo(op, member),
                actor=op.actor,
                entries=[
                    (wallet, -op.amount),
                    (ledger.account_for_member(member), op.amount),
                ],
                member=member,
                operation=op,
            )
        op.status = Operation.Status.SUCCEEDED
        op.hold = 0
        op.result = _redacted(upstream)
        op.resolved_at = now
        op.save(update_fields=["status", "hold", "result", "resolved_at", "member"])
        if op.kind == Operation.Kind.CREATE:
            api_key = gateway_key_issue(member=member, actor=op.actor)
            idempotency_keep_issued_key(op, api_key)
        audit_record(
            actor=op.actor,
            action=f"member.{op.kind}",
            obj=("member", member.uid),
            before=before,
            after={
                **_snapshot(member),
                "amount": format_amount(op.amount),
                "ledger_transaction": txn.pk if txn else None,
                "operation": op.pk,
            },
        )
    transaction.on_commit(lambda: MEMBER_OPERATIONS.labels(op.kind, "succeeded").inc())
    from members.services import cache_events

    transaction.on_commit(lambda: cache_events.member_changed(member.pk))
    return Outcome(operation=op, member=member, api_key=api_key)


def _redacted(upstream: dict | None) -> dict | None:
    if upstream is None:
        return None
    return {k: v for k, v in upstream.items() if k != "api_key"}


def _memo(op: Operation, member: Member) -> str:
    verb = {
        Operation.Kind.CREATE: f"Created {member.uid} on {member.plan.name}",
        Operation.Kind.CHANGE: f"{member.uid}: {op.expected.get('plan')} → "
        f"{member.plan.name}, prorated",
        Operation.Kind.RENEW: f"Renewed {member.uid} on {member.plan.name}",
        Operation.Kind.CANCEL: f"Cancelled {member.uid}: unused time credited",
        Operation.Kind.DELETE: f"Deleted {member.uid}: unused time credited",
    }[op.kind]
    return verb


# --- the public services ------------------------------------------------------------------


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
    uid = _check_uid(uid)
    full_name = _check_name(full_name)
    target = plan_for_new_term(plan)
    with transaction.atomic():
        wallet = ledger.wallet_lock()
        at = clock.now()  # after the lock: a wait for it must not date the change back
        if (
            Member.objects.filter(uid=uid)
            .exclude(status=Member.Status.DELETED)
            .exists()
        ):
            raise Conflict(
                f"A member with uid {uid!r} already exists",
                code="MEMBER_EXISTS",
                details={"uid": uid},
            )
        request = {"plan": target.name, "full_name": full_name}
        request["auto_renew"] = (
            org_settings().auto_renew_default
            if auto_renew is None
            else bool(auto_renew)
        )
        op = _record(
            wallet=wallet,
            kind=Operation.Kind.CREATE,
            uid=uid,
            member=None,
            amount=target.price,
            request=request,
            actor=actor,
            idempotency_key=idempotency_key,
            at=at,
        )
    return _execute(op, client)


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
    full_name = _check_name(full_name)
    target = plan_for_new_term(plan)
    changes = _member_settings(auto_renew=auto_renew, overrides=overrides)
    with transaction.atomic():
        wallet = ledger.wallet_lock()
        at = clock.now()  # after the lock: a wait for it must not date the change back
        member = member_get_live(uid)
        kind, amount = _price_change(member, target, at)
        op = _record(
            wallet=wallet,
            kind=kind,
            uid=member.uid,
            member=member,
            amount=amount,
            request={"plan": target.name, "full_name": full_name, **changes},
            actor=actor,
            idempotency_key=idempotency_key,
            at=at,
        )
    return _execute(op, client)


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
        wallet = ledger.wallet_lock()
        at = clock.now()  # after the lock: a wait for it must not date the change back
        member = member_get_live(uid)
        status = effective_status(member, at)
        if status != Member.Status.ACTIVE:
            raise Conflict(
                f"Member {uid!r} is {status}, not active",
                code="MEMBER_NOT_ACTIVE",
                details={"status": status},
            )
        op = _record(
            wallet=wallet,
            kind=Operation.Kind.CANCEL,
            uid=member.uid,
            member=member,
            amount=-_unused(member, at),
            request={},
            actor=actor,
            idempotency_key=idempotency_key,
            at=at,
        )
    return _execute(op, client)


def member_delete(
    *, uid: str, actor: str, idempotency_key: str = "", client: OrgClient | None = None
) -> Outcome:
    """Delete upstream; an active member's unused time is credited as a cancel would be.
    The local record and its ledger history are kept, marked deleted."""
    with transaction.atomic():
        wallet = ledger.wallet_lock()
        at = clock.now()  # after the lock: a wait for it must not date the change back
        member = member_get_live(uid)
        op = _record(
            wallet=wallet,
            kind=Operation.Kind.DELETE,
            uid=member.uid,
            member=member,
            amount=-_unused(member, at),
            request={},
            actor=actor,
            idempotency_key=idempotency_key,
            at=at,
        )
    return _execute(op, client)


def member_settings_update(
    *,
    uid: str,
    actor: str,
    auto_renew: bool | None = None,
    overrides: dict | None = None,
) -> Member:
    """Local-only settings: no upstream call, no money."""
    changes = _member_settings(auto_renew=auto_renew, overrides=overrides)
    with transaction.atomic():
        member = (
            Member.objects.select_for_update()
            .select_related("plan")
            .filter(pk=member_get_live(uid).pk)
            .get()
        )
        before = {"auto_renew": member.auto_renew, **_overrides(member)}
        _apply_settings(member, changes)
        member.updated_at = clock.now()
        member.save()
        audit_record(
            actor=actor,
            action="member.settings",
            obj=("member", member.uid),
            before=before,
            after={"auto_renew": member.auto_renew, **_overrides(member)},
        )
    from members.services import cache_events

    transaction.on_commit(lambda: cache_events.member_changed(member.pk))
    return member


_OVERRIDES = (
    "rate_limit",
    "quota",
    "websocket_symbols",
    "websocket_connections",
    "newsfeed",
)


def _member_settings(*, auto_renew: bool | None, overrides: dict | None) -> dict:
    """The local settings a change carries, checked: {"auto_renew": bool, "overrides":
    {name: value}}, only what is being changed."""
    for name in overrides or {}:
        if name not in _OVERRIDES:
            raise ServiceError(
                f"Unknown override {name!r}",
                code="VALIDATION_ERROR",
                details={"overrides": [f"one of {list(_OVERRIDES)}"]},
            )
    changes = {}
    if auto_renew is not None:
        changes["auto_renew"] = bool(auto_renew)
    if overrides:
        changes["overrides"] = dict(overrides)
    return changes


def _apply_settings(member: Member, changes: dict) -> None:
    if "auto_renew" in changes:
        member.auto_renew = changes["auto_renew"]
    for name, value in changes.get("overrides", {}).items():
        setattr(member, f"override_{name}", value)


def _overrides(member: Member) -> dict:
    return {
        "rate_limit": member.override_rate_limit,
        "quota": member.override_quota,
        "websocket_symbols": member.override_websocket_symbols,
        "websocket_connections": member.override_websocket_connections,
        "newsfeed": member.override_newsfeed,
    }


def member_key_rotate(*, uid: str, actor: str) -> tuple[Member, str]:
    member = member_get_live(uid)
    token = gateway_key_issue(member=member, actor=actor)
    from members.services import cache_events

    transaction.on_commit(lambda: cache_events.member_changed(member.pk))
    return member, token


def member_keys_revoke(*, uid: str, actor: str) -> Member:
    member = member_get_live(uid)
    gateway_keys_revoke(member=member, actor=actor)
    from members.services import cache_events

    transaction.on_commit(lambda: cache_events.member_changed(member.pk))
    return member


def member_live_key(member: Member) -> GatewayKey | None:
    return member.gateway_keys.filter(revoked_at=None).first()
