"""The ledger's move from `members` to `billing` keeps every row: a database at the schema
of before the move (members 0010, no billing) is migrated to the latest, and what was
written through the models of then is read back through `billing.models`."""

import pytest
from django.db import DatabaseError, connection, transaction

from billing.ledgercheck import ledger_violations
from billing.models import Account, CashRefund, CreditLot, LedgerTransaction
from billing.services import ledger
from tests import migrations
from tests.times import T0

MOVE = ("billing", "0001_initial")
# These tests commit (tests.migrations); `old_apps` leaves the database at the latest.
pytestmark = pytest.mark.django_db(transaction=True)


def _post(apps, *, kind, entries, **fields):
    """One balanced transaction through the models of before the move, as the ledger
    service of then posted it."""
    Txn, Entry, Acct = migrations.members_models(
        apps, "LedgerTransaction", "LedgerEntry", "Account"
    )
    txn = Txn.objects.create(
        kind=kind, memo=kind, actor="tests", created_at=T0, **fields
    )
    Entry.objects.bulk_create(
        [Entry(transaction=txn, account=a, amount=amt) for a, amt in entries]
    )
    if connection.vendor != "postgresql":  # PostgreSQL's trigger keeps balances
        for account, amount in entries:
            account.balance += amount
            Acct.objects.filter(pk=account.pk).update(balance=account.balance)
    return txn


def write_a_ledger(apps) -> dict:
    """A purchase, a cash refund of part of it and a member charge, with an admin log
    entry about the purchase."""
    Operation, Acct, Lot, Refund, LotRefund = migrations.members_models(
        apps, "Operation", "Account", "CreditLot", "CashRefund", "LotRefund"
    )
    member = migrations.historical_member(apps)
    op = Operation.objects.create(
        kind="create",
        member_uid="m1",
        member=member,
        status="succeeded",
        request={},
        amount=1500,
        actor="tests",
        started_at=T0,
        created_at=T0,
    )
    wallet = Acct.objects.create(code="wallet", kind="wallet")
    purchases = Acct.objects.create(code="external:purchases", kind="purchases")
    refunds = Acct.objects.create(code="external:cash_refunds", kind="refunds")
    terms = Acct.objects.create(
        code=f"member:{member.pk}", kind="member", member=member
    )
    with transaction.atomic():
        bought = _post(
            apps, kind="purchase", entries=[(wallet, 70_000), (purchases, -70_000)]
        )
        lot = Lot.objects.create(
            transaction=bought,
            credits=700,
            unit_price_cents=90,
            total_cents=63_000,
            created_at=T0,
        )
    with transaction.atomic():
        refunded = _post(
            apps, kind="refund", entries=[(wallet, -10_000), (refunds, 10_000)]
        )
        refund = Refund.objects.create(
            transaction=refunded,
            amount=10_000,
            gross_cents=9_000,
            fee_cents=900,
            net_cents=8_100,
            created_at=T0,
        )
        LotRefund.objects.create(lot=lot, refund=refund, amount=10_000)
    with transaction.atomic():
        charged = _post(
            apps,
            kind="member_create",
            entries=[(wallet, -1_500), (terms, 1_500)],
            member=member,
            operation=op,
        )
    migrations.log_admin_change(
        apps, "ledgertransaction", bought, f"#{bought.pk} purchase", "billing"
    )
    return {
        "bought": bought.pk,
        "refunded": refunded.pk,
        "charged": charged.pk,
        "lot": lot.pk,
        "member": member.pk,
        "operation": op.pk,
    }


def test_the_ledger_written_before_the_move_reads_back_through_billing(old_apps):
    # given: a ledger written before the move
    ids = write_a_ledger(old_apps)

    # when: the database is migrated to the latest
    migrations.migrate_to_latest()

    # then: the same rows, through billing's models
    assert Account.objects.get(code="wallet").balance == 70_000 - 10_000 - 1_500
    bought = LedgerTransaction.objects.get(pk=ids["bought"])
    assert sorted(bought.entries.values_list("account__code", "amount")) == [
        ("external:purchases", -70_000),
        ("wallet", 70_000),
    ]
    assert bought.lot.pk == ids["lot"] and bought.lot.credits == 700
    refund = CashRefund.objects.get(transaction_id=ids["refunded"])
    assert (refund.net_cents, refund.slices.get().lot_id) == (8_100, ids["lot"])
    charged = LedgerTransaction.objects.get(pk=ids["charged"])
    assert (charged.member.uid, charged.operation_id) == ("m1", ids["operation"])
    assert charged.member.account.balance == 1_500
    assert ledger_violations() == []
    # and the admin history and permissions follow the models to billing
    migrations.assert_admin_history_moved("ledgertransaction", "billing", bought)
    # and the ledger service posts to the same tables
    lot = ledger.credits_purchase(credits=10, actor="tests")
    assert CreditLot.objects.count() == 2 and lot.transaction.entries.count() == 2
    assert Account.objects.get(code="wallet").balance == 58_500 + 1_000
    assert ledger_violations() == []


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_the_postgres_triggers_still_guard_the_moved_tables(old_apps):
    # given: a ledger written before the move, then the move
    ids = write_a_ledger(old_apps)
    migrations.migrate_to_latest()
    entry_id = LedgerTransaction.objects.get(pk=ids["bought"]).entries.first().pk

    # when / then: the database refuses an edit, a deletion and an unbalanced posting
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "UPDATE members_ledgerentry SET amount = amount + 1 WHERE id = %s",
            [entry_id],
        )
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "DELETE FROM members_ledgertransaction WHERE id = %s", [ids["bought"]]
        )
    wallet = Account.objects.get(code="wallet")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO members_ledgerentry (transaction_id, account_id, amount) "
            "VALUES (%s, %s, 100)",
            [ids["bought"], wallet.pk],
        )
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # and the balance trigger still keeps the wallet, which never goes negative
    assert Account.objects.get(code="wallet").balance == 58_500
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "UPDATE members_account SET balance = -1 WHERE id = %s", [wallet.pk]
        )
    assert ledger_violations() == []
