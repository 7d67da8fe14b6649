"""The scheduler's and reconciliation's move from `members` to `renewals` keeps every row:
a database at the schema of before the move (members 0012, no renewals) is migrated to
the latest, and what was written through the models of then is read back through
`renewals.models`."""

import pytest
from django.db import IntegrityError, transaction

from renewals.models import ReconciliationRun, TermAction
from tests import migrations
from tests.times import T0

MOVE = ("renewals", "0001_initial")
# These tests commit (tests.migrations); `old_apps` leaves the database at the latest.
pytestmark = pytest.mark.django_db(transaction=True)


def write_runs(apps) -> dict:
    """A member's claimed renewal and done reminder, a reconciliation run, and an admin
    log entry about the run."""
    Action, Run = migrations.members_models(apps, "TermAction", "ReconciliationRun")
    member = migrations.historical_member(apps)
    reminder = Action.objects.create(
        member=member,
        kind="reminder",
        term_end=T0,
        days_before=7,
        status="done",
        attempts=1,
        claimed_at=T0,
        done_at=T0,
        created_at=T0,
    )
    renewal = Action.objects.create(
        member=member,
        kind="renew",
        term_end=T0,
        status="claimed",
        attempts=1,
        claimed_at=T0,
        created_at=T0,
    )
    run = Run.objects.create(
        started_at=T0, finished_at=T0, checked=1, reported=[{"uid": "m1"}]
    )
    migrations.log_admin_change(
        apps, "reconciliationrun", run, "reconciliation", "renewals"
    )
    return {"reminder": reminder.pk, "renewal": renewal.pk, "run": run.pk}


def test_runs_written_before_the_move_read_back_through_the_new_app(old_apps):
    # given: term actions and a reconciliation run written before the move
    ids = write_runs(old_apps)

    # when: the database is migrated to the latest
    migrations.migrate_to_latest()

    # then: the same rows, through the renewals app's models
    reminder = TermAction.objects.get(pk=ids["reminder"])
    assert (reminder.kind, reminder.days_before, reminder.member.uid) == (
        "reminder",
        7,
        "m1",
    )
    assert TermAction.objects.get(pk=ids["renewal"]).status == "claimed"
    assert reminder.member.term_actions.count() == 2
    run = ReconciliationRun.objects.get(pk=ids["run"])
    assert (run.checked, run.reported) == (1, [{"uid": "m1"}])
    # and the admin history and permissions follow the models to the new app
    migrations.assert_admin_history_moved("reconciliationrun", "renewals", run)
    # and the once-per-term constraint still guards the moved table
    with pytest.raises(IntegrityError), transaction.atomic():
        TermAction.objects.create(
            member=reminder.member,
            kind="reminder",
            term_end=T0,
            days_before=7,
            status="done",
            claimed_at=T0,
            created_at=T0,
        )
