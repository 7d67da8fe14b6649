"""On PostgreSQL the wallet's statement is sent with its transaction's COMMIT (one round
trip, so its row lock never waits on this thread): a hold commits its operation with
it, a hold the balance cannot cover commits nothing, and the block around either ends
cleanly."""

import pytest
from django.db import connection, transaction

from billing.models import Account
from billing.services import ledger
from members.errors import InsufficientCredits
from members.models import AuditEvent
from members.services.audit import audit_record
from orgportal import lastcommit

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the pipelined COMMIT is PostgreSQL's"
    ),
]


def note(action: str) -> None:
    audit_record(actor="tests", action=action, obj=("wallet", "wallet"))


def test_a_hold_commits_with_its_transaction(sandbox):
    ledger.credits_purchase(credits=10, actor="tests")
    with transaction.atomic():
        note("before the hold")
        assert lastcommit.can_commit_here()
        ledger.wallet_hold(600)
        # committed already: another connection would see it
        assert connection.connection.info.transaction_status == 0  # IDLE
    wallet = Account.objects.get(code="wallet")
    assert (wallet.balance, wallet.held) == (1000, 600)
    assert AuditEvent.objects.filter(action="before the hold").exists()


def test_a_hold_not_covered_commits_nothing(sandbox):
    ledger.credits_purchase(credits=10, actor="tests")
    with pytest.raises(InsufficientCredits) as refused, transaction.atomic():
        note("before the refused hold")
        ledger.wallet_hold(1500)
    assert refused.value.details == {"required": "15.00", "available": "10.00"}
    wallet = Account.objects.get(code="wallet")
    assert (wallet.balance, wallet.held) == (1000, 0)
    assert not AuditEvent.objects.filter(action="before the refused hold").exists()
    # the connection carries on as usual
    with transaction.atomic():
        ledger.wallet_hold(1000)
    assert Account.objects.get(code="wallet").held == 1000


def test_inside_another_transaction_the_block_commits_as_usual(sandbox):
    ledger.credits_purchase(credits=10, actor="tests")
    with transaction.atomic(), transaction.atomic():
        assert not lastcommit.can_commit_here()
        ledger.wallet_hold(100)
        assert connection.connection.info.transaction_status != 0  # still open
    assert Account.objects.get(code="wallet").held == 100
