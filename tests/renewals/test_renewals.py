"""Reminders, auto-renewal, expiry and the low-balance alert, each exactly once per
term, against the sandbox upstream with a frozen clock."""

import datetime as dt

import pytest

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from members.models import Member, Operation
from members.selectors import org_settings
from members.services import operations
from notifications.models import Notification
from renewals.models import TermAction
from renewals.services import auto_renew
from renewals.services.run import RunReport, renewals_run

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def wallet() -> int:
    return ledger.account_system(ledger.WALLET).balance


def run(clock) -> RunReport:
    return renewals_run(at=clock.now())


def events(event: str, member: Member | None = None) -> list[Notification]:
    rows = Notification.objects.filter(event=event)
    if member is not None:
        rows = rows.filter(member=member)
    return list(rows.order_by("id"))


def member_m1(plan: str, **fields) -> Member:
    return operations.member_create(uid="m1", plan=plan, actor="tests", **fields).member


def to_before_term_end(frozen, member: Member, lead: dt.timedelta) -> None:
    """The clock moved to `lead` before the end of `member`'s term."""
    frozen.advance(member.term_end - frozen.now() - lead)


def upstream_end(sandbox, uid: str) -> dt.datetime:
    return sandbox.state.members[uid].plan_end_at


def test_reminders_go_out_7_3_and_1_days_before_the_end_once_each(funded, frozen):
    # given
    member = member_m1("pro", auto_renew=False)
    end = member.term_end
    # when: beat every 6 hours up to the end, and each run fired twice
    while frozen.now() < end - HOUR:
        run(frozen)
        run(frozen)
        frozen.advance(6 * HOUR)
    # then
    sent = events("member.renewal_due", member)
    assert [n.payload["days_before"] for n in sent] == [7, 3, 1]
    assert [n.created_at for n in sent] == [end - 7 * DAY, end - 3 * DAY, end - DAY]
    assert sent[0].payload["member"]["uid"] == "m1"
    assert sent[0].payload["price"] == "15.00"
    assert sent[0].payload["auto_renew"] is False


def test_a_scheduler_down_for_days_sends_only_the_most_urgent_reminder(funded, frozen):
    member = member_m1("pro")
    # when: the first run after a long outage is 2 days before the end
    to_before_term_end(frozen, member, 2 * DAY)
    run(frozen)
    run(frozen)
    # then
    assert [n.payload["days_before"] for n in events("member.renewal_due")] == [3]
    frozen.advance(DAY)
    run(frozen)
    assert [n.payload["days_before"] for n in events("member.renewal_due")] == [3, 1]


def test_auto_renew_charges_full_price_once_and_the_new_term_starts_at_the_old_end(
    funded, sandbox, frozen
):
    # given
    member = member_m1("ultra")
    old_end = member.term_end
    before = wallet()
    # when: runs 25 h, 24 h and 23 h before the end (the default lead is 24 h)
    to_before_term_end(frozen, member, 25 * HOUR)
    assert run(frozen).renewed == 0
    frozen.advance(HOUR)
    first = run(frozen)
    again = run(frozen)
    frozen.advance(HOUR)
    later = run(frozen)
    # then
    assert (first.renewed, again.renewed, later.renewed) == (1, 0, 0)
    member.refresh_from_db()
    assert member.term_start == old_end
    assert member.term_end == old_end + 30 * DAY == upstream_end(sandbox, "m1")
    assert wallet() == before - 2_500
    [renewed] = events("member.renewed", member)
    assert renewed.payload["amount"] == "25.00"
    assert renewed.payload["term_end"] == member.term_end.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    # the new term has its own reminders
    assert member.next_reminder_at == member.term_end - 7 * DAY
    assert ledger_violations() == []


def test_without_auto_renew_the_member_expires_at_the_end_once(funded, sandbox, frozen):
    member = member_m1("pro", auto_renew=False)
    before = wallet()
    # when
    to_before_term_end(frozen, member, HOUR)
    assert run(frozen).expired == 0
    frozen.advance(HOUR)
    assert run(frozen).expired == 1
    assert run(frozen).expired == 0
    # then
    member.refresh_from_db()
    assert member.status == "expired"
    assert wallet() == before
    [expired] = events("member.expired", member)
    assert expired.payload["member"]["status"] == "expired"
    assert TermAction.objects.get(member=member, kind="expire").status == "done"


def test_too_few_credits_charges_nothing_notifies_once_and_renews_when_credits_arrive(
    funded, sandbox, frozen
):
    # given: a wallet that cannot pay a mega renewal
    member = member_m1("mega")
    ledger.ledger_adjust(
        amount=-(wallet() - 1_000), reason="leave ten credits", actor="tests"
    )
    upstream_before = upstream_end(sandbox, "m1")
    to_before_term_end(frozen, member, 24 * HOUR)
    # when: several runs inside the renewal window
    reports = [run(frozen) for _ in range(3)]
    # then: no charge, nothing sent upstream, one notification
    assert [r.waiting_credits for r in reports] == [1, 1, 1]
    assert wallet() == 1_000
    assert upstream_end(sandbox, "m1") == upstream_before
    [failed] = events("member.renewal_failed", member)
    assert failed.payload["reason"] == "INSUFFICIENT_CREDITS"
    assert failed.payload["needed"] == "50.00"
    assert failed.payload["available"] == "10.00"
    assert not Operation.objects.filter(kind="renew").exists()
    # when credits arrive before the end, the next run renews
    ledger.credits_purchase(credits=100, actor="tests")
    frozen.advance(6 * HOUR)
    assert run(frozen).renewed == 1
    member.refresh_from_db()
    assert member.status == "active"
    assert wallet() == 1_000 + 10_000 - 5_000
    assert len(events("member.renewed", member)) == 1
    assert len(events("member.renewal_failed", member)) == 1
    assert ledger_violations() == []


def test_too_few_credits_until_the_end_expires_the_member(funded, sandbox, frozen):
    member = member_m1("mega")
    ledger.ledger_adjust(amount=-(wallet() - 1_000), reason="drain", actor="tests")
    to_before_term_end(frozen, member, 24 * HOUR)
    run(frozen)
    # when
    frozen.advance(24 * HOUR)
    report = run(frozen)
    # then
    assert report.expired == 1
    member.refresh_from_db()
    assert member.status == "expired"
    assert wallet() == 1_000
    assert TermAction.objects.get(member=member, kind="renew").status == "skipped"
    assert len(events("member.expired", member)) == 1


def test_low_balance_alerts_once_per_episode_and_shows_in_the_balance_api(
    funded, frozen, api
):
    # given: 3 mega members renewing within the 7-day window; the wallet covers 2
    for i in range(3):
        operations.member_create(uid=f"m{i}", plan="mega", actor="tests")
    ledger.ledger_adjust(amount=-(wallet() - 12_000), reason="drain", actor="tests")
    frozen.advance(24 * DAY)
    # when
    first = run(frozen)
    second = run(frozen)
    body = api.get("/api/organization/balance").json()
    # then
    assert (first.low_balance_alert, second.low_balance_alert) == (True, False)
    [alert] = events("org.low_balance")
    assert alert.payload["forecast"] == "150.00"
    assert alert.payload["shortfall"] == "30.00"
    assert alert.payload["window_days"] == 7
    assert body["forecast"] == {
        "window_days": 7,
        "renewals": 3,
        "due": "150.00",
        "shortfall": "30.00",
        "covered": False,
    }
    # when the wallet is topped up the episode ends; a new shortfall alerts again
    ledger.credits_purchase(credits=100, actor="tests")
    assert run(frozen).low_balance_alert is False
    assert org_settings().low_balance_since is None
    ledger.ledger_adjust(amount=-10_000, reason="drain again", actor="tests")
    frozen.advance(HOUR)
    assert run(frozen).low_balance_alert is True
    assert len(events("org.low_balance")) == 2


# --- chaos ---------------------------------------------------------------------------


def test_a_crash_right_after_upstream_renewed_does_not_charge_twice(
    funded, sandbox, frozen, monkeypatch
):
    # given: the worker dies after the renewal is applied and settled, before it is
    # recorded as done
    member = member_m1("pro")
    old_end = member.term_end
    to_before_term_end(frozen, member, 24 * HOUR)
    real = auto_renew._renewed
    calls = []

    def crash_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(auto_renew, "_renewed", crash_once)
    before = wallet()
    first = run(frozen)
    # when: the task is retried, and beat fires again
    second = run(frozen)
    frozen.advance(HOUR)
    third = run(frozen)
    # then: the next run records the renewal upstream applied, once, charging nothing
    assert (first.renew_failed, second.renewed, third.renewed) == (1, 1, 0)
    member.refresh_from_db()
    assert member.term_end == old_end + 30 * DAY == upstream_end(sandbox, "m1")
    assert wallet() == before - 1_500
    assert Operation.objects.filter(kind="renew", status="succeeded").count() == 1
    assert len(events("member.renewed", member)) == 1
    assert TermAction.objects.get(member=member, kind="renew").status == "done"
    assert ledger_violations() == []


def test_renewal_applied_upstream_with_the_answer_lost_is_resolved_not_resent(
    funded, sandbox, frozen
):
    # given: upstream applies the renewal and then hangs, and cannot even be read
    member = member_m1("pro")
    old_end = member.term_end
    before = wallet()
    to_before_term_end(frozen, member, 24 * HOUR)
    sandbox.state.faults_set(timeout_rate=1.0, hang_seconds=3, scope="all")
    first = run(frozen)
    assert first.skipped == 1  # outcome unknown: being resolved
    [op] = Operation.objects.filter(kind="renew")
    assert op.status == "unknown"
    # the member is not expired while its renewal is being decided
    frozen.advance(24 * HOUR)
    assert run(frozen).expired == 0
    # when upstream recovers
    sandbox.state.faults_set(timeout_rate=0.0, scope="mutations")
    frozen.advance(HOUR)
    recovered = run(frozen)
    run(frozen)
    # then: the one renewal upstream applied is charged once
    assert recovered.expired == 0
    member.refresh_from_db()
    assert member.status == "active"
    assert member.term_end == old_end + 30 * DAY == upstream_end(sandbox, "m1")
    assert wallet() == before - 1_500
    assert Operation.objects.filter(kind="renew").count() == 1
    assert len(events("member.renewed", member)) == 1
    assert ledger_violations() == []


def test_upstream_errors_leave_the_renewal_due_for_the_next_run(
    funded, sandbox, frozen
):
    member = member_m1("pro")
    to_before_term_end(frozen, member, 24 * HOUR)
    sandbox.state.faults_set(error_rate=1.0)
    assert run(frozen).renew_failed == 1
    # a transient upstream failure is not worth a notification
    assert events("member.renewal_failed") == []
    sandbox.state.faults_set(error_rate=0.0)
    frozen.advance(HOUR)
    assert run(frozen).renewed == 1
    assert len(events("member.renewed")) == 1


def test_scans_read_only_due_members(funded, frozen, django_assert_max_num_queries):
    # given: many members, none due
    for i in range(30):
        operations.member_create(uid=f"m{i}", plan="pro", actor="tests")
    frozen.advance(DAY)
    # then: a run with nothing due is a handful of queries, whatever the member count
    with django_assert_max_num_queries(12):
        report = run(frozen)
    assert report.scanned == {"reminders": 0, "renewals": 0, "expiries": 0}


def test_the_renewals_command_shows_due_work_and_runs_a_pass(funded, frozen):
    from io import StringIO

    from django.core.management import call_command

    member = member_m1("pro")
    to_before_term_end(frozen, member, 24 * HOUR)
    # when: a dry run
    out = StringIO()
    call_command("renewals", "--dry-run", stdout=out)
    # then: it shows the work and changes nothing
    assert "auto-renewals       1" in out.getvalue()
    assert "costing 15.00 credits" in out.getvalue()
    assert not Operation.objects.filter(kind="renew").exists()
    # when: a real pass
    out = StringIO()
    call_command("renewals", stdout=out)
    assert "1 renewed" in out.getvalue()
    assert Operation.objects.filter(kind="renew", status="succeeded").count() == 1
