"""A pass cut into chunks: every due member in exactly one chunk, and the chunks fanned
out by the renewals_run task (inline when tasks run eagerly) with the same totals as one
serial pass."""

import datetime as dt

import pytest

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from members.models import Member
from members.services import operations
from members.services.plans import plans_sync
from renewals import tasks
from renewals.models import TermAction
from renewals.services.run import STEPS, PassPlan, chunk_run, pass_plan, renewals_run

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@pytest.mark.parametrize("size", [1, 2, 7, 50])
def test_chunks_hold_every_due_id_exactly_once_in_order(size):
    due = {
        "reminders": list(range(1, 24)),
        "renewals": list(range(100, 107)),
        "expiries": [],
    }
    plan = PassPlan(at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), settled=0, due=due)
    chunks = plan.chunks(dict.fromkeys(due, size))
    assert all(0 < len(ids) <= size for _, ids in chunks)
    for kind, ids in due.items():
        assert [i for k, part in chunks if k == kind for i in part] == ids
    kinds = [kind for kind, _ in chunks]
    assert kinds == sorted(kinds, key=list(due).index)  # reminders, renewals, expiries


def members_due(count: int, *, renewing: int, credits_after: int = 0) -> int:
    """`count` pro members, the first `renewing` auto-renewing, created with exactly the
    credits they cost, then `credits_after` more bought. Returns the wallet's balance."""
    plans_sync()
    ledger.credits_purchase(credits=15 * count, actor="tests")
    for i in range(count):
        operations.member_create(
            uid=f"m{i}", plan="pro", actor="tests", auto_renew=i < renewing
        )
    if credits_after:
        ledger.credits_purchase(credits=credits_after, actor="tests")
    return ledger.account_system(ledger.WALLET).balance


@pytest.mark.django_db
def test_a_plan_scans_every_due_member_into_its_chunks(sandbox, frozen):
    members_due(6, renewing=4)
    frozen.advance(30 * DAY - 24 * HOUR)
    plan = pass_plan(at=frozen.now())
    chunks = plan.chunks(dict.fromkeys(STEPS, 4))
    ids = sorted(Member.objects.values_list("id", flat=True))
    assert (
        sorted(i for kind, part in chunks if kind == "reminders" for i in part) == ids
    )
    assert [len(part) for kind, part in chunks if kind == "renewals"] == [4]
    assert plan.report().scanned == {"reminders": 6, "renewals": 4, "expiries": 0}


def serial_pass(at: dt.datetime) -> dict:
    return renewals_run(at=at).as_dict()


def fanned_out_pass(at: dt.datetime) -> dict:
    return tasks.renewals_run.delay().get()


@pytest.mark.django_db
@pytest.mark.parametrize("one_pass", [serial_pass, fanned_out_pass])
def test_eager_chunks_give_the_totals_of_one_serial_pass(
    one_pass, sandbox, frozen, settings, monkeypatch
):
    # given: 12 members, 8 auto-renewing, credits for 5 renewals; chunks of 2 members
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setattr(tasks, "RENEWALS_CHUNK_SIZES", dict.fromkeys(STEPS, 2))
    members_due(12, renewing=8, credits_after=5 * 15)
    frozen.advance(30 * DAY - 24 * HOUR)
    # when: the pass a day before the terms end, and the one as they end
    first = one_pass(frozen.now())
    frozen.advance(24 * HOUR)
    second = one_pass(frozen.now())
    # then
    for report in (first, second):
        assert report.pop("seconds") >= 0
    assert first == {
        "reminded": 12,
        "renewed": 5,
        "waiting_credits": 3,
        "renew_failed": 0,
        "expired": 0,
        "low_balance_alert": True,
        "skipped": 0,
        "scanned": {"reminders": 12, "renewals": 8, "expiries": 0},
    }
    assert second == {
        "reminded": 0,
        "renewed": 0,
        "waiting_credits": 0,
        "renew_failed": 0,
        "expired": 7,
        "low_balance_alert": False,
        "skipped": 0,
        "scanned": {"reminders": 0, "renewals": 0, "expiries": 7},
    }
    assert ledger_violations() == []


@pytest.mark.django_db
def test_a_chunk_out_of_time_leaves_the_rest_due(sandbox, frozen):
    members_due(3, renewing=3, credits_after=3 * 15)
    frozen.advance(30 * DAY - 24 * HOUR)
    ids = pass_plan(at=frozen.now()).due["renewals"]
    # when: a chunk whose budget is spent before its first member
    report = chunk_run(kind="renewals", ids=ids, at=frozen.now(), budget_s=-1)
    # then: nothing done; the next pass renews all three
    assert (report.renewed, TermAction.objects.count()) == (0, 0)
    assert renewals_run(at=frozen.now()).renewed == 3
