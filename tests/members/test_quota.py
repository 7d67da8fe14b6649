"""The monthly quota: the reset as a month starts, the gate counting from zero, and the
member.quota_exceeded notification once per member per month."""

import datetime as dt
import time

import httpx
import pytest

from billing.services import ledger
from members import tasks
from members.models import AuditEvent, Member, UsageDay
from members.services import operations
from members.services.plans import plans_sync
from members.services.quota import quota_exceeded_notify, quota_flag, quota_reset
from notifications.models import Notification
from tests.marketdata.conftest import web_server

MARCH_31 = dt.datetime(2026, 3, 31, 23, 50, tzinfo=dt.UTC)
APRIL_1 = dt.datetime(2026, 4, 1, 0, 1, tzinfo=dt.UTC)


def create(*uids: str) -> list[Member]:
    return [
        operations.member_create(uid=uid, plan="pro", actor="tests").member
        for uid in uids
    ]


def flag(*members: Member) -> None:
    Member.objects.filter(pk__in=[m.pk for m in members]).update(quota_exceeded=True)


def usage(member: Member, day: dt.date, requests: int, quota_refusals: int = 0):
    """What the gateway meters: counted requests, and refusals by code."""
    UsageDay.objects.update_or_create(
        member=member,
        day=day,
        defaults={
            "requests": requests,
            "refused": {"QUOTA_EXCEEDED": quota_refusals} if quota_refusals else {},
        },
    )


def flagged() -> set[str]:
    return set(Member.objects.filter(quota_exceeded=True).values_list("uid", flat=True))


@pytest.mark.django_db
def test_reset_clears_last_months_flags_once_and_tells_the_gateways(
    funded, frozen, changed, django_capture_on_commit_callbacks
):
    # given: three members over quota in March; m3 already used up April's in its
    # first minute (a tiny override quota), m4 never over
    frozen.freeze(MARCH_31)
    m1, m2, m3, _ = create("m1", "m2", "m3", "m4")
    operations.member_settings_update(uid="m3", actor="tests", overrides={"quota": 5})
    for member in (m1, m2, m3):
        usage(member, MARCH_31.date(), 50_000, quota_refusals=4)
    usage(m3, APRIL_1.date(), 5, quota_refusals=1)
    flag(m1, m2, m3)
    frozen.freeze(APRIL_1)
    changed.clear()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        cleared = tasks.quota_reset.apply().get()
    # then
    assert cleared == 2
    assert flagged() == {"m3"}
    assert sorted(changed) == sorted([m1.pk, m2.pk])
    assert set(
        AuditEvent.objects.filter(action="member.quota_reset").values_list(
            "object_id", flat=True
        )
    ) == {"m1", "m2"}
    # and running it again (beat firing twice) changes nothing
    assert quota_reset() == 0
    assert flagged() == {"m3"}


@pytest.mark.django_db
def test_notified_once_per_member_per_month_even_when_run_twice(funded, frozen):
    # given: m1 refused for quota this month; m2 reached a stricter override quota
    frozen.freeze(dt.datetime(2026, 3, 20, 12, tzinfo=dt.UTC))
    m1, m2, m3 = create("m1", "m2", "m3")
    operations.member_settings_update(uid="m2", actor="tests", overrides={"quota": 10})
    usage(m1, dt.date(2026, 3, 19), 30_000)
    usage(m1, dt.date(2026, 3, 20), 20_000, quota_refusals=2)
    usage(m2, dt.date(2026, 3, 20), 10)
    flag(m1, m2)
    # when: beat fires twice
    first = quota_exceeded_notify()
    second = tasks.quota_exceeded_notify.apply().get()
    # then
    assert (first, second) == (2, 0)
    by_uid = {
        n.member.uid: n
        for n in Notification.objects.filter(event="member.quota_exceeded")
    }
    assert set(by_uid) == {"m1", "m2"}
    n1 = by_uid["m1"]
    assert n1.dedupe_key == f"member.quota_exceeded:{m1.pk}:2026-03"
    assert {k: n1.payload[k] for k in ("quota", "used", "month")} == {
        "quota": 50_000,
        "used": 50_000,
        "month": "2026-03",
    }
    assert n1.payload["member"] == {
        "uid": "m1",
        "full_name": "",
        "plan": "pro",
        "status": "active",
        "term_start": "2026-03-20T12:00:00.000Z",
        "term_end": "2026-04-19T12:00:00.000Z",
        "auto_renew": True,
    }
    assert (by_uid["m2"].payload["quota"], by_uid["m2"].payload["used"]) == (10, 10)


@pytest.mark.django_db
def test_a_flag_left_from_last_month_sends_nothing_until_this_month_is_exceeded(
    funded, frozen
):
    # given: notified in March, and the flag still set in the minute before the reset
    frozen.freeze(MARCH_31)
    (m1,) = create("m1")
    usage(m1, MARCH_31.date(), 50_000, quota_refusals=1)
    flag(m1)
    assert quota_exceeded_notify() == 1
    frozen.freeze(dt.datetime(2026, 4, 1, 0, 0, 30, tzinfo=dt.UTC))
    # when
    assert quota_exceeded_notify() == 0
    # then: April's notification is still there to send when April is used up
    frozen.freeze(dt.datetime(2026, 4, 25, tzinfo=dt.UTC))
    usage(m1, dt.date(2026, 4, 25), 50_000, quota_refusals=1)
    assert quota_exceeded_notify() == 1
    assert sorted(
        Notification.objects.filter(member=m1).values_list("payload__month", flat=True)
    ) == ["2026-03", "2026-04"]


@pytest.mark.django_db
def test_the_flag_goes_up_once_audited_and_published(
    funded, frozen, changed, django_capture_on_commit_callbacks
):
    # given
    (member,) = create("m1")
    changed.clear()
    # when: two gateways refuse the member for quota in the same month
    with django_capture_on_commit_callbacks(execute=True):
        first = quota_flag(member_id=member.pk, month="2026-03")
    with django_capture_on_commit_callbacks(execute=True):
        second = quota_flag(member_id=member.pk, month="2026-03")
    # then: raised once, one audit row, the gateways told once
    assert (first, second) == (True, False)
    assert flagged() == {"m1"}
    events = AuditEvent.objects.filter(action="member.quota_exceeded")
    assert [(e.object_id, e.after["month"]) for e in events] == [("m1", "2026-03")]
    assert changed == [member.pk]
    assert quota_flag(member_id=10**9, month="2026-03") is False


@pytest.mark.django_db
def test_a_change_settled_with_upstream_keeps_the_gateways_flag(funded, frozen):
    # given: a member the gateway refused for quota
    (member,) = create("m1")
    quota_flag(member_id=member.pk, month="2026-03")
    # when: a renewal is settled with upstream, whose own flag is down
    operations.member_renew(uid="m1", actor="tests")
    # then: the flag still says what the gateway did
    assert flagged() == {"m1"}


@pytest.fixture
def gateway(transactional_db, sandbox, settings):
    settings.UPSTREAM_MARKET_URL = sandbox.url
    yield from web_server(settings)


def quotes(gateway, key: str) -> httpx.Response:
    return httpx.get(
        f"{gateway.url}/v3/symbols/quotes",
        params={"codes": "NASDAQ:AAPL"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_the_gate_counts_from_zero_in_the_new_month_and_the_flag_is_cleared(
    gateway, frozen
):
    # given: a member who used up a quota of 2 on 31 March
    frozen.freeze(MARCH_31)
    plans_sync()
    ledger.credits_purchase(credits=100, actor="tests")
    key = operations.member_create(uid="q", plan="pro", actor="tests").api_key
    operations.member_settings_update(uid="q", actor="tests", overrides={"quota": 2})
    assert [quotes(gateway, key).status_code for _ in range(2)] == [200, 200]
    refused = quotes(gateway, key)
    assert (refused.status_code, refused.json()["code"]) == (429, "QUOTA_EXCEEDED")
    wait_for(lambda: Member.objects.get(uid="q").quota_exceeded)
    raised = AuditEvent.objects.get(action="member.quota_exceeded")
    assert (raised.actor, raised.after) == (
        "system:gateway",
        {"quota_exceeded": True, "month": "2026-03"},
    )
    # when: April starts and the reset runs
    frozen.freeze(APRIL_1)
    cleared = quota_reset()
    # then
    assert cleared == 1
    assert not Member.objects.get(uid="q").quota_exceeded
    assert [quotes(gateway, key).status_code for _ in range(3)] == [200, 200, 429]
