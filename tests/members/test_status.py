"""A member's status at an instant: the rule in Python (members.status.status_at) and
in SQL (MemberQuerySet.status_at / with_status_at) agree for every stored status on
either side of the term's end."""

import datetime as dt

import pytest

from members.models import Member
from members.status import status_at
from tests.conftest import T0
from tests.portal import factories

STATUSES = [s.value for s in Member.Status]
OFFSETS = [dt.timedelta(seconds=-1), dt.timedelta(0), dt.timedelta(seconds=1)]


@pytest.mark.parametrize(
    ("stored", "offset", "shown"),
    [
        ("active", dt.timedelta(seconds=1), "active"),
        ("active", dt.timedelta(0), "expired"),  # the term's last instant is past
        ("active", dt.timedelta(seconds=-1), "expired"),
        ("cancelled", dt.timedelta(seconds=-1), "cancelled"),
        ("expired", dt.timedelta(days=1), "expired"),
        ("deleted", dt.timedelta(seconds=-1), "deleted"),
    ],
)
def test_status_at(stored, offset, shown):
    assert status_at(stored, T0 + offset, T0) == shown


@pytest.mark.django_db
def test_the_queryset_agrees_with_the_rule():
    # given: a member of every stored status on either side of T0
    cases = [(status, offset) for status in STATUSES for offset in OFFSETS]
    members = factories.members(len(cases))
    for member, (status, offset) in zip(members, cases, strict=True):
        member.status, member.term_end = status, T0 + offset
    Member.objects.bulk_update(members, ["status", "term_end"])
    # when / then: filtering and annotating give what status_at says
    expected = {m.pk: status_at(m.status, m.term_end, T0) for m in members}
    shown = dict(Member.objects.with_status_at(T0).values_list("pk", "shown_status"))
    assert shown == expected
    for status in STATUSES:
        chosen = set(Member.objects.status_at(status, T0).values_list("pk", flat=True))
        assert chosen == {pk for pk, s in expected.items() if s == status}
