"""The scheduler racing itself on PostgreSQL: two workers on the same due set, beat
firing several runs at once. Each renewal, reminder and expiry happens once."""

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from members.models import Member, Operation
from members.services import operations
from members.services.plans import plans_sync
from notifications.models import Notification
from renewals.models import TermAction
from renewals.services.run import renewals_run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
WORKERS = 4


def runs_in_parallel(at: dt.datetime, workers: int = WORKERS) -> list:
    barrier = threading.Barrier(workers)

    def worker(_):
        barrier.wait()
        try:
            return renewals_run(at=at)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(worker, range(workers)))


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
