"""The wallet's `held` column starts at what the operations in flight hold: a database
at the schema of before it (billing 0001) with money held is migrated to the latest,
and holds and releases carry on from there exactly."""

import pytest
from django.db import IntegrityError, transaction

from billing.ledgercheck import ledger_violations
from billing.models import Account
from billing.services import ledger
from tests.conftest import T0
from tests.migrations import migrate, migrate_to_latest

BEFORE = [("billing", "0001_initial")]
pytestmark = pytest.mark.django_db(transaction=True)


def _operation(apps, *, uid: str, status: str, hold: int):
    Operation = apps.get_model("members", "Operation")
    return Operation.objects.create(
        kind="create",
        member_uid=uid,
        status=status,
        request={"plan": "pro"},
        amount=hold,
        hold=hold,
        actor="tests",
        started_at=T0,
        created_at=T0,
    )


def test_holds_in_flight_are_carried_into_the_wallet(transactional_db):
    # given: before the column, a wallet of 50.00 with two operations in flight holding
    # 15.00 and 10.00, and one settled long ago
    apps = migrate(BEFORE).loader.project_state(BEFORE).apps
    try:
        Acct = apps.get_model("billing", "Account")
        Acct.objects.create(code="wallet", kind="wallet", balance=5000)
        _operation(apps, uid="a", status="pending", hold=1500)
        _operation(apps, uid="b", status="unknown", hold=1000)
        _operation(apps, uid="c", status="succeeded", hold=0)
    finally:
        # when
        migrate_to_latest()
    # then: the wallet holds exactly what is in flight, and only 25.00 more can be held
    wallet = Account.objects.get(code="wallet")
    assert (wallet.balance, wallet.held) == (5000, 2500)
    with transaction.atomic():
        ledger.wallet_hold(2500)
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(code="wallet").update(held=5001)
    assert Account.objects.get(code="wallet").held == 5000
    # a hold no operation accounts for is what ledgercheck reports
    assert (
        "the wallet holds 50.00 but the operations in flight hold 25.00"
        in ledger_violations()
    )
