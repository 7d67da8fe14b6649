"""Reversing a manual adjustment from the ledger page: owners only, a review with the
wallet before and after, a reason required, once."""

import pytest

from billing.models import LedgerTransaction
from billing.services import ledger
from members.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def adjustment(funded):
    return ledger.ledger_adjust(amount=25_000, reason="typo", actor="tests")


def test_owner_reviews_then_reverses_with_a_reason(owner_client, adjustment):
    # given: the ledger offers the owner a reversal of the adjustment
    page = owner_client.get("/ledger/").content.decode()
    assert f'href="/ledger/{adjustment.pk}/reverse"' in page
    # when: the owner opens the review
    review = owner_client.get(f"/ledger/{adjustment.pk}/reverse").content.decode()
    # then: what it moves and the wallet before and after
    assert "−250.00 credits" in review
    assert "1,250.00 → 1,000.00 credits" in review
    # when: confirmed without a reason, then with one
    missing = owner_client.post(f"/ledger/{adjustment.pk}/reverse", {"reason": " "})
    assert missing.status_code == 400
    assert not LedgerTransaction.objects.filter(kind="reversal").exists()
    done = owner_client.post(
        f"/ledger/{adjustment.pk}/reverse", {"reason": "entered twice"}
    )
    # then: reversed once, audited under the owner's name, shown as reversed
    assert (done.status_code, done["Location"]) == (302, "/ledger/")
    reversal = LedgerTransaction.objects.get(kind="reversal")
    assert reversal.reverses_id == adjustment.pk
    assert AuditEvent.objects.get(action="ledger.reverse").actor.startswith("staff:")
    page = owner_client.get("/ledger/").content.decode()
    assert f'href="/ledger/{adjustment.pk}/reverse"' not in page
    again = owner_client.post(f"/ledger/{adjustment.pk}/reverse", {"reason": "again"})
    assert again.status_code == 400
    assert "already reversed" in again.content.decode()
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1


def test_only_owners_reverse(admin_client, adjustment):
    assert "/reverse" not in admin_client.get("/ledger/").content.decode()
    denied = admin_client.post(f"/ledger/{adjustment.pk}/reverse", {"reason": "x"})
    assert denied.status_code == 403
    assert not LedgerTransaction.objects.filter(kind="reversal").exists()


def test_purchases_are_not_reversible_and_unknown_ids_are_404(owner_client, funded):
    purchase = LedgerTransaction.objects.get(kind="purchase")
    page = owner_client.get("/ledger/").content.decode()
    assert f"/ledger/{purchase.pk}/reverse" not in page
    refused = owner_client.post(f"/ledger/{purchase.pk}/reverse", {"reason": "x"})
    assert refused.status_code == 400
    assert "Only manual adjustments" in refused.content.decode()
    assert owner_client.get("/ledger/999999/reverse").status_code == 404
