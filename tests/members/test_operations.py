"""Member operations end to end against the sandbox upstream, with a frozen clock."""

import datetime as dt

import pytest

from billing.ledgercheck import ledger_violations
from billing.models import LedgerTransaction
from billing.services import ledger
from members.errors import Conflict, InsufficientCredits, ServiceError
from members.models import Member, Operation
from members.services import operations
from members.status import status_at
from orgportal import clock
from tests.keys import key_owner

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
    assert key_owner(outcome.api_key) == member
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
    member = Member.objects.get(uid="m1")
    assert status_at(member.status, member.term_end, clock.now()) == "expired"
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
    assert key_owner(outcome.api_key) is None
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


def test_each_settled_operation_records_its_term_and_says_what_it_did(funded, frozen):
    # given
    t0 = frozen.now()
    day = dt.timedelta(days=1)
    operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(10 * day)
    # when
    operations.member_change_plan(uid="m1", plan="ultra", actor="tests")
    operations.member_renew(uid="m1", actor="tests")
    operations.member_cancel(uid="m1", actor="tests")
    # then: the change closed the pro term, the renewal starts where ultra ends, and
    # the cancel closed every term still open
    member = Member.objects.get(uid="m1")
    terms = [
        (t.plan_name, t.start - t0, t.end - t0, t.closed_at)
        for t in member.terms.order_by("id")
    ]
    assert terms == [
        ("pro", 0 * day, 30 * day, t0 + 10 * day),
        ("ultra", 10 * day, 40 * day, t0 + 10 * day),
        ("ultra", 40 * day, 70 * day, t0 + 10 * day),
    ]
    memos = list(
        LedgerTransaction.objects.filter(member=member)
        .order_by("id")
        .values_list("memo", flat=True)
    )
    assert memos == [
        "Created m1 on pro",
        "m1: pro → ultra, prorated",
        "Renewed m1 on ultra",
        "Cancelled m1: unused time credited",
    ]
    assert ledger_violations() == []


def test_a_cancel_credits_a_renewal_paid_ahead_whole(funded, frozen):
    # given: 20 days left of a pro term, and the next one paid ahead
    operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=10))
    operations.member_renew(uid="m1", actor="tests")
    # when
    outcome = operations.member_cancel(uid="m1", actor="tests")
    # then
    assert outcome.operation.amount == -(1_000 + 1_500)
    assert wallet() == 100_000 - 3_000 + 2_500
    assert outcome.member.status == "cancelled"
    assert ledger_violations() == []


def test_deleting_an_expired_member_credits_nothing_and_stops_its_key(funded, frozen):
    # given
    created = operations.member_create(uid="m1", plan="pro", actor="tests")
    frozen.advance(dt.timedelta(days=31))
    # when
    outcome = operations.member_delete(uid="m1", actor="tests")
    # then
    assert outcome.settled and outcome.operation.amount == 0
    assert outcome.member.status == "deleted"
    assert wallet() == 100_000 - 1_500
    assert not LedgerTransaction.objects.filter(kind="member_delete").exists()
    assert key_owner(created.api_key) is None


def test_a_plan_change_carrying_some_settings_changes_only_those(funded, frozen):
    # given
    operations.member_create(uid="m1", plan="pro", auto_renew=False, actor="tests")
    operations.member_settings_update(uid="m1", actor="tests", overrides={"quota": 5})
    # when: only one override travels with the change
    operations.member_change_plan(
        uid="m1", plan="ultra", overrides={"rate_limit": 9}, actor="tests"
    )
    # then
    m = Member.objects.get(uid="m1")
    assert (m.plan.name, m.auto_renew, m.override_rate_limit, m.override_quota) == (
        "ultra",
        False,
        9,
        5,
    )


def test_a_renewal_asked_as_a_plan_change_applies_its_settings(funded, frozen):
    # given
    created = operations.member_create(uid="m1", plan="pro", actor="tests").member
    frozen.advance(dt.timedelta(days=20))
    # when: the member's own plan, with a setting
    outcome = operations.member_change_plan(
        uid="m1", plan="pro", auto_renew=False, actor="tests"
    )
    # then: renewed from the old end, charged in full, the setting applied
    assert outcome.operation.kind == "renew"
    assert outcome.member.term_start == created.term_end
    assert outcome.member.auto_renew is False
    assert wallet() == 100_000 - 3_000
