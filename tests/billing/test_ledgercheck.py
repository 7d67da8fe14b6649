"""`manage.py ledgercheck`: a sound ledger passes, a tampered one is named."""

import pytest
from django.core.management import call_command
from django.db import connection

from members.services import operations

pytestmark = pytest.mark.django_db


def test_ledgercheck_passes_on_a_sound_ledger(funded, capsys):
    operations.member_create(uid="m1", plan="pro", actor="tests")
    call_command("ledgercheck")
    assert "Ledger OK" in capsys.readouterr().out


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="PostgreSQL refuses the tamper"
)
def test_ledgercheck_names_each_violation(funded, capsys):
    # given: a ledger tampered with behind the services' back
    operations.member_create(uid="m1", plan="pro", actor="tests")
    with connection.cursor() as cur:
        cur.execute("UPDATE members_ledgerentry SET amount = amount + 7 WHERE id = 1")
        cur.execute(
            "UPDATE members_account SET balance = -5 WHERE code = 'external:purchases'"
        )
    # when
    with pytest.raises(SystemExit) as exit_:
        call_command("ledgercheck")
    # then
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "does not balance" in err
    assert "external:purchases shows a balance of -0.05" in err
