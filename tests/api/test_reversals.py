"""Reversing a manual adjustment: POST /ledger/{id}/reverse posts the mirror image of
an adjustment, once, admin only, audited; anything else is refused and changes
nothing."""

import pytest
from django.db import connection

from billing.ledgercheck import ledger_violations
from billing.models import LedgerTransaction
from billing.services import ledger
from members.models import AuditEvent
from members.services.plans import plans_sync
from tests.members.test_concurrency import in_parallel
from tests.rest import BASE, post


def balance(api) -> str:
    return api.get(BASE + "/balance").json()["balance"]


def adjust(api, amount: str) -> int:
    r = post(api, "/ledger/adjustments", {"amount": amount, "reason": "typo"})
    assert r.status_code == 200, r.content
    return r.json()["transaction_id"]


@pytest.mark.django_db
def test_a_reversal_undoes_an_adjustment_once(api, funded):
    # given: an adjustment that added 250.00 by mistake
    original = adjust(api, "250.00")
    assert balance(api) == "1250.00"
    # when
    r = post(api, f"/ledger/{original}/reverse", {"reason": "entered twice"})
    # then: the mirror image is posted and linked, audited, the wallet is back
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["reverses"], body["balance"]) == (original, "1000.00")
    reversal = LedgerTransaction.objects.get(pk=body["transaction_id"])
    assert (reversal.kind, reversal.reverses_id) == ("reversal", original)
    assert reversal.memo == f"Reversal of #{original}: entered twice"
    audit = AuditEvent.objects.get(action="ledger.reverse")
    assert audit.after == {"reverses": original, "reason": "entered twice"}
    assert ledger_violations() == []
    # when: asked again
    again = post(api, f"/ledger/{original}/reverse", {"reason": "entered twice"})
    # then: refused, nothing posted
    assert (again.status_code, again.json()["code"]) == (409, "ALREADY_REVERSED")
    assert balance(api) == "1000.00"


@pytest.mark.django_db
def test_refusals_change_nothing(api, funded):
    # given: a purchase (not an adjustment) and a removal the wallet cannot undo
    purchase = LedgerTransaction.objects.filter(kind="purchase").latest("id").pk
    removal = adjust(api, "-900.00")
    post(api, "/members/create", {"uid": "m1", "plan": "pro"})  # spends 15.00
    before = (LedgerTransaction.objects.count(), balance(api))
    cases = [
        (f"/ledger/{purchase}/reverse", {"reason": "x"}, 409, "NOT_REVERSIBLE"),
        ("/ledger/999999/reverse", {"reason": "x"}, 404, "TRANSACTION_NOT_FOUND"),
        (f"/ledger/{removal}/reverse", {}, 400, "VALIDATION_ERROR"),
        (f"/ledger/{removal}/reverse", {"reason": "x", "by": 1}, 400, None),
    ]
    for path, body, status, code in cases:
        r = post(api, path, body)
        assert r.status_code == status, (path, r.content)
        if code:
            assert r.json()["code"] == code
    assert (LedgerTransaction.objects.count(), balance(api)) == before
    # a reversal that takes credits out needs them available: undoing -900.00 adds,
    # undoing a fresh +2000.00 would take out more than the wallet holds after a spend
    big = adjust(api, "2000.00")
    post(api, "/ledger/adjustments", {"amount": "-1900.00", "reason": "spent"})
    r = post(api, f"/ledger/{big}/reverse", {"reason": "x"})
    assert (r.status_code, r.json()["code"]) == (402, "INSUFFICIENT_CREDITS")
    assert ledger_violations() == []


@pytest.mark.django_db
def test_reversal_needs_admin_and_replays_by_idempotency_key(scoped_api, funded):
    admin = scoped_api("admin")
    original = adjust(admin, "5.00")
    token = scoped_api("read", "members", "credits")
    r = post(token, f"/ledger/{original}/reverse", {"reason": "x"})
    assert (r.status_code, r.json()["code"]) == (403, "INSUFFICIENT_SCOPE")
    first = post(
        admin,
        f"/ledger/{original}/reverse",
        {"reason": "x"},
        **{"Idempotency-Key": "k1"},
    )
    second = post(
        admin,
        f"/ledger/{original}/reverse",
        {"reason": "x"},
        **{"Idempotency-Key": "k1"},
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_parallel_reversals_post_one(sandbox):
    # given: an adjustment
    plans_sync()
    ledger.credits_purchase(credits=100, actor="tests")
    original = ledger.ledger_adjust(amount=30_000, reason="typo", actor="tests").pk

    def reverse(_):
        ledger.transaction_reverse(transaction_id=original, reason="x", actor="tests")
        return "reversed"

    # when: eight at once
    results = in_parallel(reverse, list(range(8)))
    # then: one posted, the rest told it was already reversed
    assert sorted(results) == ["ALREADY_REVERSED"] * 7 + ["reversed"]
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1
    assert ledger_violations() == []
