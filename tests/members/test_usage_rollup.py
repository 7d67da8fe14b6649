"""Monthly usage roll-ups from the gateways' daily rows: correct sums, idempotent, and
right across a month boundary."""

import datetime as dt

import pytest

from members import tasks
from members.models import UsageDay, UsageMonth
from members.services import operations
from members.services.usage import usage_rollup

pytestmark = pytest.mark.django_db

FEB = dt.date(2026, 2, 1)
MAR = dt.date(2026, 3, 1)


@pytest.fixture
def two_members(funded, frozen):
    return [
        operations.member_create(uid=uid, plan="pro", actor="tests").member
        for uid in ("m1", "m2")
    ]


def day(member, date, requests, *, bytes_out=0, refused=None, ms=0) -> None:
    UsageDay.objects.create(
        member=member,
        day=date,
        requests=requests,
        bytes_out=bytes_out,
        refused=refused or {},
        upstream_ms_total=ms,
    )


def months() -> dict:
    return {
        (row.member.uid, row.month): (
            row.requests,
            row.bytes_out,
            row.refused,
            row.upstream_ms_total,
        )
        for row in UsageMonth.objects.select_related("member")
    }


def test_rollup_sums_each_month_on_its_own_side_of_the_boundary(two_members):
    # given: days on both sides of 1 March
    m1, m2 = two_members
    day(m1, dt.date(2026, 2, 27), 10, bytes_out=100, refused={"RATE_LIMITED": 2}, ms=50)
    day(m1, dt.date(2026, 2, 28), 5, bytes_out=40, refused={"QUOTA_EXCEEDED": 1}, ms=7)
    day(m1, dt.date(2026, 3, 1), 3, bytes_out=30, refused={"A": 1, "B": 4}, ms=9)
    day(m2, dt.date(2026, 3, 1), 1, bytes_out=1)
    day(m2, dt.date(2026, 1, 31), 999)  # January: not this run's business
    # when: the run of 2 March (yesterday = the 1st) takes February again too
    written = usage_rollup(day=dt.date(2026, 3, 1))
    # then
    assert written == 3
    assert months() == {
        ("m1", FEB): (15, 140, 3, 57),
        ("m1", MAR): (3, 30, 5, 9),
        ("m2", MAR): (1, 1, 0, 0),
    }


def test_rollup_twice_gives_the_same_rows(two_members):
    m1, m2 = two_members
    day(m1, dt.date(2026, 3, 1), 3, refused={"RATE_LIMITED": 1})
    day(m2, dt.date(2026, 3, 2), 4)
    first = usage_rollup(day=dt.date(2026, 3, 2))
    rows = months()
    ids = set(UsageMonth.objects.values_list("id", flat=True))
    # when
    second = usage_rollup(day=dt.date(2026, 3, 2))
    # then
    assert first == second == 2
    assert months() == rows == {("m1", MAR): (3, 0, 1, 0), ("m2", MAR): (4, 0, 0, 0)}
    assert set(UsageMonth.objects.values_list("id", flat=True)) == ids


def test_late_rows_for_the_last_day_of_a_month_are_picked_up_on_the_1st_and_2nd(
    two_members,
):
    # given: February rolled up on 1 March, then a gateway flush for 28 Feb lands late
    m1, _ = two_members
    day(m1, dt.date(2026, 2, 28), 10)
    usage_rollup(day=dt.date(2026, 2, 28))
    UsageDay.objects.filter(member=m1, day=dt.date(2026, 2, 28)).update(requests=12)
    # when: the 2 March run (yesterday = the 1st)
    usage_rollup(day=dt.date(2026, 3, 1))
    # then
    assert months()[("m1", FEB)][0] == 12
    # and from the 3rd on, February is left alone
    UsageDay.objects.filter(member=m1, day=dt.date(2026, 2, 28)).update(requests=99)
    assert usage_rollup(day=dt.date(2026, 3, 3)) == 0
    assert months()[("m1", FEB)][0] == 12


def test_default_day_is_yesterday_utc(two_members, frozen):
    # given: beat's run at 00:10 on 1 April
    m1, _ = two_members
    day(m1, dt.date(2026, 3, 31), 6)
    day(m1, dt.date(2026, 4, 1), 1)  # today: counted when its month is rolled up
    frozen.freeze(dt.datetime(2026, 4, 1, 0, 10, tzinfo=dt.UTC))
    # when
    written = tasks.usage_rollup.apply().get()
    # then
    assert written == 1
    assert months() == {("m1", MAR): (6, 0, 0, 0)}
    # and the task takes an ISO day as its JSON argument
    assert tasks.usage_rollup.apply(args=["2026-04-01"]).get() == 2
    assert months()[("m1", dt.date(2026, 4, 1))] == (1, 0, 0, 0)
