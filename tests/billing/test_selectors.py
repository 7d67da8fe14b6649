"""Reads of the ledger only read: before anything is posted there is no wallet row,
and reading the balance, its summary or its forecast creates none (nor the
organisation's settings row, whose defaults they read)."""

import pytest

from billing import selectors as wallet
from billing.models import Account
from members import selectors
from members.models import OrgSettings


@pytest.mark.django_db
def test_reads_of_an_empty_ledger_write_nothing():
    # given: a fresh database: nothing posted, no system accounts
    assert not Account.objects.exists()
    # when
    summary = selectors.wallet_summary()
    forecast = selectors.balance_forecast(days=7)
    # then: zeros, and still no account row
    assert wallet.wallet_balance() == 0
    assert wallet.wallet_account_id() is None
    assert summary == {"balance": 0, "held": 0, "available": 0, "refundable": 0}
    assert (forecast["balance"], forecast["shortfall"]) == (0, 0)
    assert not Account.objects.exists()
    assert not OrgSettings.objects.exists()
