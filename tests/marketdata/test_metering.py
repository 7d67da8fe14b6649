"""The usage meter's flush: counts added to each member's day in one transaction,
however many members, refusals merged by reason, nothing lost on a second flush."""

import asyncio
import datetime as dt

import pytest

from marketdata.metering import Meter
from members.models import UsageDay
from tests.portal import factories

pytestmark = pytest.mark.django_db(transaction=True)
DAY = dt.date(2026, 12, 1)


def test_a_flush_adds_every_members_counts_in_one_go():
    # given: more members than one statement carries, one with a row already
    members = factories.members(450, prefix="meter")
    first = members[0]
    UsageDay.objects.create(member=first, day=DAY, requests=5, ws_messages=1)
    meter = Meter()
    for i, member in enumerate(members):
        meter.record(member.pk, DAY, refused=None, bytes_out=10 + i, upstream_ms=3)
        meter.record_stream(member.pk, DAY, messages=2, bytes_out=7, seconds=i)
        meter.record_accounts(member.pk, DAY, events=4, seconds=1)
    meter.record(first.pk, DAY, refused="RATE_LIMITED", bytes_out=0, upstream_ms=0)

    # when: flushed twice, the second time with more for the first member
    asyncio.run(meter.flush())
    meter.record_accounts(first.pk, DAY, events=6, seconds=2)
    meter.record(first.pk, DAY, refused="RATE_LIMITED", bytes_out=0, upstream_ms=0)
    meter.record(first.pk, DAY, refused="QUOTA_EXCEEDED", bytes_out=0, upstream_ms=0)
    asyncio.run(meter.flush())

    # then
    rows = {r.member_id: r for r in UsageDay.objects.filter(day=DAY)}
    assert len(rows) == 450
    one = rows[first.pk]
    assert (one.requests, one.bytes_out, one.upstream_ms_total) == (6, 10, 3)
    assert (one.ws_messages, one.ws_bytes, one.ws_connection_seconds) == (3, 7, 0)
    assert (one.account_events, one.account_connection_seconds) == (10, 3)
    assert one.refused == {"RATE_LIMITED": 2, "QUOTA_EXCEEDED": 1}
    last = rows[members[-1].pk]
    assert (last.requests, last.bytes_out, last.ws_connection_seconds) == (1, 459, 449)
    assert last.refused == {}
