"""Upstream faults on every mutation: the ledger and the member converge to upstream,
nothing is charged twice and nothing is lost."""

import datetime as dt

import pytest

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from members.errors import ServiceError
from members.models import Member, Operation
from members.services import operations
from members.status import status_at
from orgportal import clock

pytestmark = pytest.mark.django_db


def wallet() -> int:
    return ledger.account_system(ledger.WALLET).balance


def upstream_spent(sandbox) -> int:
    return sandbox.state.initial_balance - sandbox.state.balance


def assert_converged(sandbox):
    """Local members equal upstream's, and both sides spent exactly the same credits."""
    local = {
        m.uid: (m.plan.name, status_at_now(m), m.term_end)
        for m in Member.objects.exclude(status="deleted").select_related("plan")
    }
    remote = {}
    for uid, member in sandbox.state.members.items():
        data = sandbox.state.member_json(member)
        remote[uid] = (
            data["plan"],
            data["status"],
            dt.datetime.fromisoformat(data["plan_end_at"].replace("Z", "+00:00")),
        )
    assert local == remote
    assert 100_000 - wallet() == upstream_spent(sandbox)
    assert ledger_violations() == []


def test_error_fault_charges_nothing_and_says_upstream_is_unavailable(funded, sandbox):
    sandbox.state.faults_set(error_rate=1.0)
    with pytest.raises(ServiceError) as err:
        operations.member_create(uid="m1", plan="pro", actor="tests")
    assert err.value.code == "UPSTREAM_UNAVAILABLE"
    assert wallet() == 100_000
    assert Operation.objects.get().status == "failed"
    sandbox.state.faults_set(error_rate=0.0)
    assert operations.member_create(uid="m1", plan="pro", actor="tests").settled
    assert_converged(sandbox)


@pytest.mark.parametrize("kind", ["create", "change", "renew", "cancel", "delete"])
def test_applied_then_timeout_is_resolved_by_reading_back(
    funded, sandbox, frozen, kind
):
    # given
    if kind != "create":
        operations.member_create(uid="m1", plan="pro", actor="tests")
        frozen.advance(dt.timedelta(days=10))
    sandbox.state.faults_set(timeout_rate=1.0, hang_seconds=3)
    # when: upstream applies the change, then the answer never comes in time
    call = {
        "create": lambda: operations.member_create(uid="m1", plan="pro", actor="tests"),
        "change": lambda: operations.member_change_plan(
            uid="m1", plan="mega", actor="tests"
        ),
        "renew": lambda: operations.member_renew(uid="m1", actor="tests"),
        "cancel": lambda: operations.member_cancel(uid="m1", actor="tests"),
        "delete": lambda: operations.member_delete(uid="m1", actor="tests"),
    }[kind]
    outcome = call()
    sandbox.state.faults_set(timeout_rate=0.0)
    # then: the read-back found it applied, and it was charged exactly once
    assert outcome.operation.status == "succeeded"
    assert_converged(sandbox)


def test_unknown_outcome_with_upstream_unreadable_is_resolved_later(
    funded, sandbox, frozen
):
    # given: every call, reads too, is applied and then hangs
    sandbox.state.faults_set(timeout_rate=1.0, hang_seconds=3, scope="all")
    outcome = operations.member_create(uid="m1", plan="pro", actor="tests")
    assert outcome.operation.status == "unknown"
    # the charge is held, not spent: other operations cannot spend it
    assert (
        ledger.wallet_available(ledger.account_system(ledger.WALLET)) == 100_000 - 1_500
    )
    assert wallet() == 100_000
    # when upstream recovers, the resolver (a Celery task in production) settles it once
    sandbox.state.faults_set(timeout_rate=0.0, scope="mutations")
    first = operations.operation_resolve(operation_id=outcome.operation.pk)
    again = operations.operation_resolve(operation_id=outcome.operation.pk)
    # then
    assert first.operation.status == again.operation.status == "succeeded"
    assert_converged(sandbox)


def test_random_faults_on_a_long_sequence_converge(funded, sandbox, frozen):
    sandbox.state.faults_set(
        error_rate=0.25, timeout_rate=0.15, hang_seconds=1.5, seed=3
    )
    steps = [
        ("create", "a", "pro"),
        ("create", "b", "ultra"),
        ("create", "c", "mega"),
        ("change", "a", "ultra"),
        ("renew", "b", None),
        ("cancel", "c", None),
        ("change", "a", "pro"),
        ("delete", "b", None),
        ("create", "d", "pro"),
        ("renew", "c", None),
        ("change", "d", "mega"),
        ("cancel", "a", None),
    ]
    for kind, uid, plan in steps:
        frozen.advance(dt.timedelta(days=3, hours=5))
        try:
            if kind == "create":
                operations.member_create(uid=uid, plan=plan, actor="tests")
            elif kind == "change":
                operations.member_change_plan(uid=uid, plan=plan, actor="tests")
            elif kind == "renew":
                operations.member_renew(uid=uid, actor="tests")
            elif kind == "cancel":
                operations.member_cancel(uid=uid, actor="tests")
            else:
                operations.member_delete(uid=uid, actor="tests")
        except ServiceError:
            pass  # refused or unavailable: nothing may have been charged for it
    sandbox.state.faults_set(error_rate=0.0, timeout_rate=0.0)
    for op_id in Operation.objects.filter(
        status__in=["pending", "unknown"]
    ).values_list("id", flat=True):
        operations.operation_resolve(operation_id=op_id)
    assert_converged(sandbox)


@pytest.mark.django_db(transaction=True)
def test_an_operation_still_being_sent_is_left_to_its_caller(funded, sandbox, frozen):
    """Another worker resolving a renewal whose caller is still waiting on upstream
    must not decide "not applied" before upstream has even processed it."""
    import threading
    import time

    operations.member_create(uid="m1", plan="pro", actor="tests")
    sandbox.state.faults_set(latency_ms=600, scope="mutations")  # under the timeout
    done = {}
    caller = threading.Thread(
        target=lambda: done.update(
            outcome=operations.member_renew(uid="m1", actor="tests")
        )
    )
    caller.start()
    deadline = time.monotonic() + 10
    while not Operation.objects.filter(kind="renew").exists():
        assert time.monotonic() < deadline, "the renewal never started"
        time.sleep(0.02)
    op = Operation.objects.get(kind="renew")
    # when: someone else tries to resolve it while the call is in flight
    early = operations.operation_resolve(operation_id=op.pk)
    caller.join(timeout=30)
    sandbox.state.faults_set(latency_ms=0, scope="mutations")
    # then: it was left alone, and the caller's renewal is charged once
    assert early.operation.status == "pending"
    assert done["outcome"].operation.status == "succeeded"
    assert_converged(sandbox)


def test_an_operation_left_pending_past_the_call_deadline_is_resolved(
    funded, sandbox, frozen
):
    """A caller that died mid-call: once no call could still be running, the
    operation is decided by reading the member back."""
    from orgportal.upstream_http import call_deadline_s

    operations.member_create(uid="m1", plan="pro", actor="tests")
    renewed = operations.member_renew(uid="m1", actor="tests").operation
    # a second renewal whose caller died before upstream saw it
    stale = Operation.objects.create(
        kind=renewed.kind,
        member=renewed.member,
        member_uid=renewed.member_uid,
        status=Operation.Status.PENDING,
        request=renewed.request,
        amount=0,
        expected={**renewed.expected, "plan_end_at": "2099-01-01T00:00:00+00:00"},
        idempotency_key="died-mid-call",
        actor="tests",
        started_at=frozen.now(),
        created_at=frozen.now(),
    )
    assert operations.operation_resolve(operation_id=stale.pk).operation.status == (
        "pending"
    )
    frozen.advance(dt.timedelta(seconds=call_deadline_s() + 1))
    resolved = operations.operation_resolve(operation_id=stale.pk).operation
    assert resolved.status == "failed" and resolved.error["code"] == "NOT_APPLIED"
    assert_converged(sandbox)


def status_at_now(member) -> str:
    return status_at(member.status, member.term_end, clock.now())
