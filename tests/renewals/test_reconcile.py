"""Reconciliation with upstream: drift injected behind orgportal's back in the sandbox is
repaired where that is safe, reported where a person must decide, and never touches
money."""

import dataclasses
import datetime as dt

import httpx
import pytest
from django.core.management import call_command

from billing.ledgercheck import ledger_violations
from billing.models import Account, LedgerEntry
from members.models import AuditEvent, Member, MemberTerm, Operation
from members.services import operations
from members.upstream import OrgClient
from notifications.models import Notification
from renewals import tasks
from renewals.models import ReconciliationRun
from renewals.services.expiry import member_expire
from renewals.services.reconcile import reconcile_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def members(funded, frozen):
    def make(*uids: str, plan: str = "pro") -> list[Member]:
        return [
            operations.member_create(
                uid=uid, plan=plan, full_name=uid.title(), actor="tests"
            ).member
            for uid in uids
        ]

    return make


def money() -> tuple:
    """Everything money-shaped; a reconciliation must leave it exactly as it was."""
    return (
        sorted(Account.objects.values_list("code", "balance")),
        LedgerEntry.objects.count(),
        MemberTerm.objects.count(),
        Operation.objects.count(),
    )


def upstream_limits(sandbox, uid: str, **limits) -> None:
    """Change one member's limits upstream only (as an upstream support change would)."""
    member = sandbox.state.members[uid]
    member.plan = dataclasses.replace(
        member.plan, limits=dataclasses.replace(member.plan.limits, **limits)
    )


def fields(run: ReconciliationRun, which: str) -> set[tuple[str, str]]:
    return {(item["uid"], item["field"]) for item in getattr(run, which)}


def test_limits_and_name_changed_upstream_follow_upstream(
    members, sandbox, changed, django_capture_on_commit_callbacks
):
    # given
    m1, m2 = members("m1", "m2")
    upstream_limits(sandbox, "m1", rate_limit=5, quota=100, newsfeed=False)
    sandbox.state.members["m1"].full_name = "Renamed Upstream"
    before = money()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        run = reconcile_run()
    # then
    m1.refresh_from_db()
    assert (m1.rate_limit, m1.quota, m1.newsfeed, m1.full_name) == (
        5,
        100,
        False,
        "Renamed Upstream",
    )
    assert {(i["field"], i["local"], i["upstream"]) for i in run.repaired} == {
        ("rate_limit", 25, 5),
        ("quota", 50_000, 100),
        ("newsfeed", True, False),
        ("full_name", "M1", "Renamed Upstream"),
    }
    assert all(i["uid"] == "m1" and i["action"] for i in run.repaired)
    assert run.reported == [] and run.error == "" and run.checked == 2
    assert run.finished_at is not None
    assert changed == [m1.pk]
    m2_before = Member.objects.get(pk=m2.pk)
    assert (m2_before.rate_limit, m2_before.full_name) == (25, "M2")
    audit = AuditEvent.objects.get(action="member.reconcile")
    assert (audit.object_id, audit.before["rate_limit"], audit.after["rate_limit"]) == (
        "m1",
        25,
        5,
    )
    assert AuditEvent.objects.filter(
        action="reconcile.run", object_id=str(run.pk)
    ).exists()
    assert money() == before and ledger_violations() == []
    # and a second run finds nothing left to do
    again = reconcile_run()
    assert (again.repaired, again.reported) == ([], [])


def test_every_page_is_read(members, sandbox):
    # given: five members and drift on the last one, listed three pages in
    members("a1", "a2", "a3", "a4", "a5")
    upstream_limits(sandbox, "a5", websocket_symbols=1, websocket_connections=2)
    # when
    run = reconcile_run(page_size=2)
    # then
    assert run.checked == 5
    assert fields(run, "repaired") == {
        ("a5", "websocket_symbols"),
        ("a5", "websocket_connections"),
    }
    assert Member.objects.get(uid="a5").websocket_symbols == 1


def test_expired_upstream_after_the_term_ended_is_marked_expired_once(
    members, frozen, changed, django_capture_on_commit_callbacks
):
    # given: the term ended on both sides, but the scheduler has not expired it here
    (m1,) = members("m1")
    frozen.advance(dt.timedelta(days=30, minutes=5))
    before = money()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        run = reconcile_run()
    # then
    m1.refresh_from_db()
    assert m1.status == Member.Status.EXPIRED
    assert [
        (i["uid"], i["field"], i["local"], i["upstream"]) for i in run.repaired
    ] == [("m1", "status", "active", "expired")]
    assert run.reported == []
    assert m1.pk in changed  # gateways cut access
    assert Notification.objects.filter(event="member.expired", member=m1).count() == 1
    assert money() == before
    # and neither a second run nor the scheduler expires or notifies it again
    assert reconcile_run().repaired == []
    assert member_expire(member_id=m1.pk) is False
    assert Notification.objects.filter(event="member.expired", member=m1).count() == 1


def test_expired_early_upstream_is_reported_not_repaired(members, sandbox, frozen):
    # given: upstream ends the member's paid time 29 days early
    (m1,) = members("m1")
    httpx.post(f"{sandbox.url}/_sandbox/members/m1/expire").raise_for_status()
    frozen.advance(dt.timedelta(minutes=1))
    before = money()
    # when
    run = reconcile_run()
    # then
    assert fields(run, "reported") == {("m1", "status"), ("m1", "term_end")}
    status = next(i for i in run.reported if i["field"] == "status")
    assert (status["local"], status["upstream"]) == ("active", "expired")
    assert "owed" in status["why"]
    assert run.repaired == []
    m1.refresh_from_db()
    assert m1.status == Member.Status.ACTIVE
    assert m1.term_end == frozen.now() - dt.timedelta(minutes=1) + dt.timedelta(days=30)
    assert money() == before


def test_member_only_upstream_is_reported_not_imported(members, sandbox):
    # given
    members("m1")
    with OrgClient() as client:
        client.member_create(uid="stranger", plan="ultra", full_name="Who")
    before = money()
    # when
    run = reconcile_run()
    # then
    (item,) = run.reported
    assert (item["uid"], item["field"], item["local"]) == ("stranger", "member", None)
    assert item["upstream"]["plan"] == "ultra"
    assert "upstream but not here" in item["why"]
    assert not Member.objects.filter(uid="stranger").exists()
    assert run.repaired == [] and money() == before


def test_member_deleted_only_upstream_is_reported_not_deleted(members, sandbox):
    # given
    (m1, _) = members("m1", "m2")
    with OrgClient() as client:
        client.member_delete(uid="m1")
    before = money()
    # when
    run = reconcile_run()
    # then
    (item,) = run.reported
    assert (item["uid"], item["field"], item["upstream"]) == ("m1", "member", None)
    assert item["local"]["status"] == "active"
    m1.refresh_from_db()
    assert (m1.status, m1.deleted_at) == (Member.Status.ACTIVE, None)
    assert money() == before and ledger_violations() == []


def test_plan_changed_upstream_is_reported_and_its_limits_followed(
    members, sandbox, frozen
):
    # given: a day later, upstream upgraded m1 to ultra behind our back (no charge
    # posted here; upstream started a new 30-day term)
    (m1,) = members("m1")
    frozen.advance(dt.timedelta(days=1))
    with OrgClient() as client:
        client.member_update(uid="m1", plan="ultra")
    before = money()
    # when
    run = reconcile_run()
    # then
    assert fields(run, "reported") == {("m1", "plan"), ("m1", "term_end")}
    m1.refresh_from_db()
    assert m1.plan.name == "pro"  # a person decides who pays for the upgrade
    assert (m1.rate_limit, m1.websocket_symbols) == (40, 5)  # ultra's, as upstream
    assert money() == before


def test_member_with_an_operation_in_flight_is_skipped(members, sandbox, frozen):
    # given: a change in flight, and upstream already showing its effect
    (m1,) = members("m1")
    Operation.objects.create(
        kind=Operation.Kind.CHANGE,
        member_uid="m1",
        member=m1,
        status=Operation.Status.UNKNOWN,
        request={"plan": "ultra"},
        amount=0,
        actor="tests",
        started_at=frozen.now(),
        created_at=frozen.now(),
    )
    with OrgClient() as client:
        client.member_update(uid="m1", plan="ultra")
    # when
    run = reconcile_run()
    # then: the operation's resolution owns it
    assert (run.repaired, run.reported) == ([], [])
    m1.refresh_from_db()
    assert (m1.plan.name, m1.rate_limit) == ("pro", 25)


class FaultsFromPage2(OrgClient):
    """Upstream starts failing every request once the second page is asked for."""

    def __init__(self, sandbox, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sandbox = sandbox

    def members_list(self, *, page: int = 1, limit: int = 10) -> dict:
        if page == 2:
            self.sandbox.state.faults_set(error_rate=1.0, scope="all")
        return super().members_list(page=page, limit=limit)


def test_listing_failing_midway_records_the_error_and_applies_nothing(members, sandbox):
    # given: drift on the first page, and upstream failing from the second page on
    (m1, *_) = members("m1", "m2", "m3", "m4")
    upstream_limits(sandbox, "m1", rate_limit=3)
    before = money()
    # when
    with FaultsFromPage2(sandbox) as client:
        run = reconcile_run(client=client, page_size=2)
    # then
    assert "after 2 members were listed; nothing was applied" in run.error
    assert "HTTP 503" in run.error
    assert (run.repaired, run.reported) == ([], [])
    assert run.finished_at is not None
    m1.refresh_from_db()
    assert m1.rate_limit == 25
    assert AuditEvent.objects.filter(action="reconcile.failed").count() == 1
    assert not AuditEvent.objects.filter(action="member.reconcile").exists()
    assert money() == before
    # and once upstream answers again, the next run repairs it
    sandbox.state.faults_set(error_rate=0.0)
    assert fields(reconcile_run(page_size=2), "repaired") == {("m1", "rate_limit")}


class ListingMisses(OrgClient):
    """A listing that lost one member, as a deletion during paging shifts a page."""

    def __init__(self, missed: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.missed = missed

    def members_iter(self, *, page_size: int = 100):
        for raw in super().members_iter(page_size=page_size):
            if raw["uid"] != self.missed:
                yield raw


def test_member_missed_by_the_listing_is_read_back_not_reported(members, sandbox):
    # given
    members("m1", "m2", "m3")
    upstream_limits(sandbox, "m2", quota=7)
    # when
    with ListingMisses("m2") as client:
        run = reconcile_run(client=client)
    # then: read back on its own and compared like the others
    assert run.reported == []
    assert fields(run, "repaired") == {("m2", "quota")}
    assert run.checked == 3


def test_reconcile_task_retries_until_upstream_can_be_read(
    members, sandbox, monkeypatch
):
    # given: upstream refuses every read, and recovers after the first run
    members("m1")
    upstream_limits(sandbox, "m1", rate_limit=9)
    sandbox.state.faults_set(error_rate=1.0, scope="all")
    real = reconcile_run

    def upstream_recovers_after_one_run(**kwargs):
        try:
            return real(**kwargs)
        finally:
            sandbox.state.faults_set(error_rate=0.0)

    monkeypatch.setattr(tasks, "reconcile_run", upstream_recovers_after_one_run)
    # when
    result = tasks.reconcile.apply()
    # then
    assert result.successful()
    first, second = ReconciliationRun.objects.order_by("id")
    assert first.error and first.repaired == []
    assert second.error == "" and fields(second, "repaired") == {("m1", "rate_limit")}
    assert result.result == {
        "run": second.pk,
        "checked": 1,
        "repaired": 1,
        "reported": 0,
    }


def test_reconcile_task_gives_up_after_its_retries(members, sandbox):
    # given
    members("m1")
    sandbox.state.faults_set(error_rate=1.0, scope="all")
    # when
    result = tasks.reconcile.apply()
    # then
    assert result.failed()
    assert isinstance(result.result, tasks.ReconcileFailed)
    runs = ReconciliationRun.objects.all()
    assert len(runs) == tasks.RECONCILE_MAX_RETRIES + 1
    assert all(run.error for run in runs)


def test_reconcile_command_lists_what_needs_a_person_and_exits_1(
    members, sandbox, capsys
):
    # given
    members("m1")
    upstream_limits(sandbox, "m1", rate_limit=4)
    with OrgClient() as client:
        client.member_create(uid="stranger", plan="pro")
    # when
    with pytest.raises(SystemExit) as exit_:
        call_command("reconcile")
    # then
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "2 members checked" in out and "1 repaired, 1 need a person" in out
    assert "m1: rate_limit 25 → 4 (follows upstream)" in out
    assert "stranger: member here (none)" in out


def test_reconcile_command_exits_0_when_all_agree(members, capsys):
    members("m1")
    call_command("reconcile")
    out = capsys.readouterr().out
    assert "1 members checked" in out and "Nothing needs a person." in out
