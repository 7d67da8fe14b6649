"""A fanned-out pass racing itself on PostgreSQL: two workers (threads, each on its own
connection) sharing one pass's chunks, and a pass dispatched twice at once. Each member
is renewed exactly once: one operation, one charge, a clean ledger."""

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Count

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from members.models import Member, Operation
from renewals import tasks
from renewals.models import TermAction
from renewals.services.run import STEPS, RunReport, chunk_run, pass_plan
from tests.renewals.test_renewals_chunks import members_due

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
PRO = 1_500  # a pro term, in hundredths of a credit


def in_two_workers(work) -> list:
    """`work(n)` for workers 0 and 1 at the same instant, each on its own database
    connection, as two worker processes would."""
    barrier = threading.Barrier(2)

    def worker(n: int):
        barrier.wait()
        try:
            return work(n)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(worker, range(2)))


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

    reports = in_two_workers(work)
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
    reports = in_two_workers(
        lambda _: tasks.renewals_run.delay().get(disable_sync_subtasks=False)
    )
    # then
    assert sum(r["renewed"] for r in reports) == 9
    assert_renewed_once_each(9, before)
    assert set(Member.objects.values_list("status", flat=True)) == {"active"}
