"""The scheduler racing itself on PostgreSQL: workers (threads, each on its own
connection) on the same due set, beat firing several runs at once, two workers sharing
one fanned-out pass's chunks. Each renewal, reminder and expiry happens once: one
operation and one charge per renewal, a clean ledger."""

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Count

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from members.models import Member, Operation
from members.services import operations
from members.services.plans import plans_sync
from notifications.models import Notification
from renewals import tasks
from renewals.models import TermAction
from renewals.services.run import STEPS, RunReport, chunk_run, pass_plan, renewals_run
from tests.renewals.test_renewals_chunks import members_due

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
WORKERS = 4
PRO = 1_500  # a pro term, in hundredths of a credit


def in_parallel(work, workers: int = WORKERS) -> list:
    """`work(n)` for workers 0 .. workers - 1 at the same instant, each on its own
    database connection, as worker processes would."""
    barrier = threading.Barrier(workers)

    def worker(n: int):
        barrier.wait()
        try:
            return work(n)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(worker, range(workers)))


def runs_in_parallel(at: dt.datetime, workers: int = WORKERS) -> list:
    return in_parallel(lambda _: renewals_run(at=at), workers)


def wallet() -> int:
    return ledger.account_system(ledger.WALLET).balance


def test_workers_racing_on_the_same_due_set_renew_each_member_once(sandbox, frozen):
    # given: 12 members renewing, 4 expiring, all due in the same run
    plans_sync()
    ledger.credits_purchase(credits=1_000, actor="tests")
    for i in range(16):
        operations.member_create(
            uid=f"m{i}", plan="pro", actor="tests", auto_renew=i < 12
        )
    paid = wallet()
    frozen.advance(30 * DAY - 24 * HOUR)
    # when: four workers on the same due set, twice
    first = runs_in_parallel(frozen.now())
    frozen.advance(24 * HOUR)
    second = runs_in_parallel(frozen.now())
    # then
    assert sum(r.renewed for r in first) == 12
    assert sum(r.expired for r in second) == 4
    assert wallet() == paid - 12 * 1_500
    assert Operation.objects.filter(kind="renew", status="succeeded").count() == 12
    statuses = sorted(Member.objects.values_list("status", flat=True))
    assert statuses == ["active"] * 12 + ["expired"] * 4
    for m in Member.objects.all():
        assert m.term_end == sandbox.state.members[m.uid].plan_end_at
    counts = {
        event: Notification.objects.filter(event=event).count()
        for event in ("member.renewed", "member.expired", "member.renewal_due")
    }
    # renewal_due: the 1-day reminder of the first term for all 16
    assert counts == {
        "member.renewed": 12,
        "member.expired": 4,
        "member.renewal_due": 16,
    }
    assert TermAction.objects.filter(status="claimed").count() == 0
    assert ledger_violations() == []


def test_racing_workers_with_too_few_credits_never_overdraw(sandbox, frozen):
    # given: credits for 5 of 12 renewals
    plans_sync()
    ledger.credits_purchase(credits=180, actor="tests")
    for i in range(12):
        operations.member_create(uid=f"m{i}", plan="pro", actor="tests")
    assert wallet() == 0
    ledger.credits_purchase(credits=75, actor="tests")
    frozen.advance(30 * DAY - 24 * HOUR)
    # when
    results = runs_in_parallel(frozen.now())
    # then
    assert sum(r.renewed for r in results) == 5
    assert wallet() == 0
    assert Notification.objects.filter(event="member.renewal_failed").count() == 7
    assert ledger_violations() == []


def assert_renewed_once_each(renewing: int, before: int) -> None:
    per_member = (
        Operation.objects.filter(kind="renew", status="succeeded")
        .values("member_id")
        .annotate(n=Count("id"))
    )
    assert [row["n"] for row in per_member] == [1] * renewing
    assert ledger.account_system(ledger.WALLET).balance == before - renewing * PRO
    assert TermAction.objects.filter(kind="renew", status="done").count() == renewing
    assert TermAction.objects.filter(status="claimed").count() == 0
    assert ledger_violations() == []


def test_two_workers_taking_every_chunk_of_a_pass_renew_each_member_once(
    sandbox, frozen
):
    # given: 10 members renewing, 2 not; one pass planned in chunks of 3
    before = members_due(12, renewing=10, credits_after=10 * 15)
    frozen.advance(30 * DAY - 24 * HOUR)
    at = frozen.now()
    chunks = pass_plan(at=at).chunks(dict.fromkeys(STEPS, 3))

    # when: both workers run every chunk, one from the first, one from the last
    def work(n: int) -> RunReport:
        total = RunReport()
        for kind, ids in chunks if n == 0 else reversed(chunks):
            total.add(chunk_run(kind=kind, ids=ids, at=at))
        return total

    reports = in_parallel(work, 2)
    # then
    assert sum(r.renewed for r in reports) == 10
    assert sum(r.reminded for r in reports) == 12
    assert_renewed_once_each(10, before)


def test_a_pass_dispatched_twice_at_once_renews_each_member_once(
    sandbox, frozen, settings, monkeypatch
):
    # given: chunks of 2, run in the dispatching thread (eager), as by a worker
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setattr(tasks, "RENEWALS_CHUNK_SIZES", dict.fromkeys(STEPS, 2))
    before = members_due(9, renewing=9, credits_after=9 * 15)
    frozen.advance(30 * DAY - 24 * HOUR)
    # when: beat fires twice at the same instant
    # Celery's guard against waiting inside a task sees the other thread's task; an
    # eager result never waits.
    reports = in_parallel(
        lambda _: tasks.renewals_run.delay().get(disable_sync_subtasks=False), 2
    )
    # then
    assert sum(r["renewed"] for r in reports) == 9
    assert_renewed_once_each(9, before)
    assert set(Member.objects.values_list("status", flat=True)) == {"active"}
