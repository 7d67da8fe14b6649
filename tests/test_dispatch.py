"""Services queue worker tasks by name once they commit (orgportal.dispatch): nothing
is queued for a transaction that rolls back, and a broker that refuses the message
does not fail the change that committed."""

import pytest
from django.db import transaction

from orgportal import dispatch


@pytest.fixture
def sent(monkeypatch):
    calls: list[tuple] = []
    task = dispatch.task_named("members.tasks.operation_resolve")
    monkeypatch.setattr(task, "delay", lambda *args: calls.append(args))
    return calls


@pytest.mark.django_db(transaction=True)
def test_queued_after_commit_and_never_for_a_rollback(sent):
    # when: one transaction commits, another rolls back
    with transaction.atomic():
        dispatch.enqueue_after_commit("members.tasks.operation_resolve", 7)
        assert sent == []  # not before the commit
    with pytest.raises(RuntimeError), transaction.atomic():
        dispatch.enqueue_after_commit("members.tasks.operation_resolve", 8)
        raise RuntimeError("rolled back")
    # then
    assert sent == [(7,)]


@pytest.mark.django_db(transaction=True)
def test_a_broker_failure_is_logged_not_raised(monkeypatch, caplog):
    def refuse(*args):
        raise ConnectionError("broker down")

    task = dispatch.task_named("members.tasks.operation_resolve")
    monkeypatch.setattr(task, "delay", refuse)
    with transaction.atomic():
        dispatch.enqueue_after_commit("members.tasks.operation_resolve", 7)
    assert "could not queue a task" in caplog.text
