"""Member operations end to end against the sandbox upstream, with a frozen clock."""

import datetime as dt

import pytest

from billing.ledgercheck import ledger_violations
from billing.models import LedgerTransaction
from billing.services import ledger
from members.errors import Conflict, InsufficientCredits, ServiceError
from members.models import Member, Operation
from members.services import operations
from members.services.keys import gateway_key_member

pytestmark = pytest.mark.django_db


def wallet() -> int:
    return ledger.account_system(ledger.WALLET).balance


def test_create_charges_the_plan_price_and_issues_a_gateway_key(funded, frozen):
    # when
    outcome = operations.member_create(
        uid="john_doe", plan="pro", full_name="John Doe", actor="tests"
    )
    # then
    assert outcome.settled
    assert wallet() == 100_000 - 1_500
    member = outcome.member
    assert (member.plan.name, member.status, member.term_start) == (
        "pro",
        "active",
        frozen.now(),
    )
    assert member.term_end == frozen.now() + dt.timedelta(days=30)
    assert gateway_key_member(outcome.api_key) == member
    assert outcome.api_key.count(".") == 2  # JWT-shaped
    assert ledger_violations() == []


def test_upgrade_at_half_the_term_charges_5_and_term_follows_upstream(funded, frozen):
    operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=15))
    # when
    outcome = operations.member_change_plan(uid="m1", plan="ultra", actor="tests")
    # then
    assert wallet() == 100_000 - 1_500 - 500
    assert outcome.member.term_end == frozen.now() + dt.timedelta(days=30)
    frozen.advance(dt.timedelta(days=15))
    operations.member_change_plan(uid="m1", plan="pro", actor="tests")
    assert wallet() == 100_000 - 1_500 - 500 + 500
    assert ledger_violations() == []


def test_cancel_with_20_days_left_credits_10(funded, frozen):
    operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=10))
    outcome = operations.member_cancel(uid="m1", actor="tests")
    assert outcome.member.status == "cancelled"
    assert wallet() == 100_000 - 1_500 + 1_000
    with pytest.raises(Conflict) as err:
        operations.member_cancel(uid="m1", actor="tests")
    assert err.value.code == "MEMBER_NOT_ACTIVE"


def test_pro_to_mega_with_10_days_left_charges_11_67(funded, frozen):
    operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=20))
    operations.member_change_plan(uid="m1", plan="mega", actor="tests")
    assert wallet() == 100_000 - 1_500 - 1_167


def test_renew_before_expiry_extends_from_the_old_end(funded, frozen):
    created = operations.member_create(uid="m1", plan="pro", actor="tests").member
    old_end = created.term_end
    frozen.advance(dt.timedelta(days=25))
    outcome = operations.member_renew(uid="m1", actor="tests")
    assert wallet() == 100_000 - 3_000
    assert outcome.member.term_start == old_end
    assert outcome.member.term_end == old_end + dt.timedelta(days=30)
    assert ledger_violations() == []


def test_renew_after_expiry_starts_now(funded, frozen):
    operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=31))
    assert operations.effective_status(Member.objects.get(uid="m1")) == "expired"
    outcome = operations.member_renew(uid="m1", actor="tests")
    assert outcome.member.term_start == frozen.now()
    assert outcome.member.status == "active"
    assert wallet() == 100_000 - 3_000


def test_delete_of_an_active_member_refunds_as_a_cancel_and_keeps_history(
    funded, frozen
):
    outcome = operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=10))
    operations.member_delete(uid="m1", actor="tests")
    member = Member.objects.get(uid="m1")
    assert member.status == "deleted"
    assert wallet() == 100_000 - 1_500 + 1_000
    assert gateway_key_member(outcome.api_key) is None
    assert LedgerTransaction.objects.filter(member=member).count() == 2
    # the uid is free again
    assert operations.member_create(uid="m1", plan="pro", actor="tests").settled


def test_insufficient_credits_is_refused_before_any_upstream_call(db, sandbox):
    ledger.credits_purchase(credits=10, actor="tests")
    with pytest.raises(InsufficientCredits):
        operations.member_create(uid="m1", plan="pro", actor="tests")
    assert sandbox.state.members == {}
    assert Operation.objects.count() == 0
    assert wallet() == 1_000


def test_unknown_plan_and_long_uid_are_refused(funded):
    with pytest.raises(ServiceError) as err:
        operations.member_create(uid="m1", plan="platinum", actor="tests")
    assert err.value.code == "PLAN_NOT_FOUND"
    with pytest.raises(ServiceError) as err:
        operations.member_create(uid="x" * 101, plan="pro", actor="tests")
    assert err.value.code == "VALIDATION_ERROR"
    assert Member.objects.count() == 0


def test_preview_matches_the_charge_and_changes_nothing(funded, frozen):
    operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=20))
    preview = operations.member_preview(uid="m1", plan="mega")
    assert (preview.charge, preview.refund) == (1_167, 0)
    assert preview.balance_after == wallet() - 1_167
    assert Operation.objects.count() == 1
    operations.member_change_plan(uid="m1", plan="mega", actor="tests")
    assert wallet() == preview.balance_after
