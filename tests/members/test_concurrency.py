"""Parallel operations against PostgreSQL: never a double charge, never a lost credit,
never a negative wallet."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from billing.ledgercheck import ledger_violations
from billing.models import LedgerTransaction
from billing.services import ledger
from members.errors import ServiceError
from members.models import Operation
from members.services import operations
from members.services.plans import plans_sync

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]
THREADS = 20


def in_parallel(fn, args):
    barrier = threading.Barrier(len(args))

    def worker(arg):
        barrier.wait()
        try:
            return fn(arg)
        except ServiceError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(args)) as pool:
        return list(pool.map(worker, args))


def wallet() -> int:
    return ledger.account_system(ledger.WALLET).balance


def test_twenty_creates_with_a_nearly_empty_wallet(sandbox):
    # given: 100 credits, enough for exactly six pro members
    plans_sync()
    ledger.credits_purchase(credits=100, actor="tests")
    # when
    results = in_parallel(
        lambda i: operations.member_create(uid=f"m{i}", plan="pro", actor="tests"),
        list(range(THREADS)),
    )
    # then
    created = [r for r in results if not isinstance(r, str)]
    refused = [r for r in results if isinstance(r, str)]
    assert len(created) == 6
    assert set(refused) == {"INSUFFICIENT_CREDITS"}
    assert wallet() == 10_000 - 6 * 1_500
    assert len(sandbox.state.members) == 6
    assert ledger_violations() == []


def test_twenty_changes_to_one_member(sandbox):
    # given
    plans_sync()
    ledger.credits_purchase(credits=60, actor="tests")
    operations.member_create(uid="m", plan="pro", actor="tests")
    spent_before = sandbox.state.initial_balance - sandbox.state.balance
    targets = ["ultra", "mega", "pro", "ultra", "pro"] * 4
    # when
    results = in_parallel(
        lambda plan: operations.member_change_plan(uid="m", plan=plan, actor="tests"),
        targets,
    )
    # then: every change either settled once or was refused with a reason
    settled = [r for r in results if not isinstance(r, str)]
    assert {r for r in results if isinstance(r, str)} <= {
        "MEMBER_BUSY",
        "INSUFFICIENT_CREDITS",
    }
    assert settled, "at least one change goes through"
    posted = LedgerTransaction.objects.filter(
        kind__in=["member_change", "member_renew"]
    ).count()
    assert posted == len([r for r in settled if r.operation.amount != 0])
    assert not Operation.objects.filter(status__in=["pending", "unknown"]).exists()
    # the model: upstream charged independently; both sides agree to the hundredth
    spent_upstream = sandbox.state.initial_balance - sandbox.state.balance
    assert 6_000 - wallet() == spent_upstream
    assert spent_upstream - spent_before == sum(r.operation.amount for r in settled)
    assert wallet() >= 0
    assert ledger_violations() == []


def test_parallel_purchases_refunds_and_creates_never_lose_a_credit(sandbox):
    plans_sync()
    ledger.credits_purchase(credits=50, actor="tests")

    def act(i):
        if i % 3 == 0:
            return ledger.credits_purchase(credits=10, actor="tests")
        if i % 3 == 1:
            return ledger.credits_refund(credits=7, actor="tests")
        return operations.member_create(uid=f"x{i}", plan="pro", actor="tests")

    results = in_parallel(act, list(range(THREADS)))
    purchases = sum(
        1 for i, r in enumerate(results) if i % 3 == 0 and not isinstance(r, str)
    )
    refunds = sum(
        1 for i, r in enumerate(results) if i % 3 == 1 and not isinstance(r, str)
    )
    creates = sum(
        1 for i, r in enumerate(results) if i % 3 == 2 and not isinstance(r, str)
    )
    assert wallet() == 5_000 + purchases * 1_000 - refunds * 700 - creates * 1_500
    assert wallet() >= 0
    assert ledger_violations() == []


def test_the_database_itself_refuses_edits_and_unbalanced_postings(db):
    from django.db import IntegrityError, InternalError, transaction
    from django.db.utils import DatabaseError

    ledger.credits_purchase(credits=5, actor="tests")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE members_ledgerentry SET amount = amount + 1")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM members_ledgertransaction")
    wallet_id = ledger.account_system(ledger.WALLET).pk
    txn_id = LedgerTransaction.objects.get().pk
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO members_ledgerentry (transaction_id, account_id, amount) "
                "VALUES (%s, %s, 100)",
                [txn_id, wallet_id],
            )
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with (
        pytest.raises(IntegrityError),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute(
            "UPDATE members_account SET balance = -1 WHERE id = %s", [wallet_id]
        )
    assert ledger_violations() == []


def test_a_change_that_waited_for_the_member_is_dated_after_the_wait(sandbox):
    """A renewal that read the clock before waiting for the member's lock could start
    its term before a cancel that committed first, overlapping paid terms."""
    # given: a member, and another transaction holding its row lock for a while
    plans_sync()
    ledger.credits_purchase(credits=100, actor="tests")
    operations.member_create(uid="m1", plan="pro", actor="tests")
    locked = threading.Event()
    released_at = []

    def hold_the_member():
        from django.db import transaction

        from members.models import Member
        from orgportal import clock

        with transaction.atomic():
            Member.objects.select_for_update().get(uid="m1")
            locked.set()
            time.sleep(0.5)
            released_at.append(clock.now())
        connections.close_all()

    holder = threading.Thread(target=hold_the_member)
    holder.start()
    locked.wait(5)
    # when: a cancel has to wait for it
    outcome = operations.member_cancel(uid="m1", actor="tests")
    holder.join()
    # then: it is priced and dated after the wait, not before
    assert outcome.operation.started_at >= released_at[0]
    assert ledger_violations() == []


def test_one_key_sent_by_many_clients_at_once_charges_once(sandbox, service_token):
    """Retries racing each other with one Idempotency-Key: one runs, the others are
    told it is in progress or get its answer."""
    import json

    from rest_framework.test import APIClient

    plans_sync()
    ledger.credits_purchase(credits=100, actor="tests")

    def send(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_token}")
        return client.post(
            "/api/organization/members/create",
            data=json.dumps({"uid": "m1", "plan": "pro"}),
            content_type="application/json",
            headers={"Idempotency-Key": "one-key"},
        ).status_code

    statuses = in_parallel(send, list(range(8)))
    assert set(statuses) <= {200, 202, 409}
    assert statuses.count(200) >= 1
    assert LedgerTransaction.objects.filter(kind="member_create").count() == 1
    assert Operation.objects.count() == 1
    assert len(sandbox.state.members) == 1
    assert ledger_violations() == []
