"""Writes made together: one statement on PostgreSQL, each write's rows counted, nothing
written when the block raises."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import AuditEvent
from members.services.writes import insert_later, update_later, writes_together
from orgportal import clock

pytestmark = pytest.mark.django_db


def event(action: str) -> AuditEvent:
    return AuditEvent(
        actor="tests",
        action=action,
        object_type="member",
        object_id="m1",
        after={"amount": "1.00"},
        created_at=clock.now(),
    )


def test_writes_are_made_together_and_counted():
    event("old").save()
    with CaptureQueriesContext(connection) as captured:
        with writes_together():
            added = insert_later(event("new"))
            changed = update_later(AuditEvent.objects.filter(action="old"), actor="x")
            nothing = update_later(AuditEvent.objects.filter(action="none"), actor="y")
            assert added.rows is None  # not yet made
    assert (added.rows, changed.rows, nothing.rows) == (1, 1, 0)
    expected = 1 if connection.vendor == "postgresql" else 3
    assert len(captured.captured_queries) == expected
    rows = AuditEvent.objects.order_by("id").values_list("action", "actor", "after")
    assert list(rows) == [
        ("old", "x", {"amount": "1.00"}),
        ("new", "tests", {"amount": "1.00"}),
    ]


def test_a_block_that_raises_writes_nothing():
    with pytest.raises(RuntimeError), writes_together():
        insert_later(event("never"))
        raise RuntimeError
    assert not AuditEvent.objects.exists()


def test_outside_a_block_a_write_is_made_at_once():
    written = insert_later(event("now"))
    assert written.rows == 1 and AuditEvent.objects.filter(action="now").exists()
