"""Sixteen threads of mixed member mutations against PostgreSQL, on members of their
own and on members they share: no deadlock, no double charge, no lost credit, and the
wallet's hold back at zero."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from billing.ledgercheck import ledger_violations
from billing.models import Account, LedgerEntry
from billing.services import ledger
from members.errors import ServiceError
from members.models import Member, Operation
from members.services import operations
from members.services.plans import plans_sync

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]
THREADS = 16
ROUNDS = 6
SHARED = ["s0", "s1", "s2"]
# What a mutation may be refused with when others race it; anything else (a deadlock,
# a 500) fails the test.
EXPECTED_REFUSALS = {
    "MEMBER_BUSY",
    "MEMBER_EXISTS",
    "MEMBER_NOT_FOUND",
    "MEMBER_NOT_ACTIVE",
    "INSUFFICIENT_CREDITS",
}


def _mutation(rng: random.Random, uid: str):
    kind = rng.choice(["create", "change", "renew", "cancel", "delete", "buy"])
    plan = rng.choice(["pro", "ultra", "mega"])
    if kind == "create":
        return lambda: operations.member_create(uid=uid, plan=plan, actor="tests")
    if kind == "change":
        return lambda: operations.member_change_plan(uid=uid, plan=plan, actor="tests")
    if kind == "renew":
        return lambda: operations.member_renew(uid=uid, actor="tests")
    if kind == "cancel":
        return lambda: operations.member_cancel(uid=uid, actor="tests")
    if kind == "delete":
        return lambda: operations.member_delete(uid=uid, actor="tests")
    return lambda: ledger.credits_purchase(credits=rng.randint(1, 40), actor="tests")


def test_sixteen_threads_of_mixed_mutations(sandbox):
    # given: a wallet that runs short now and then, and three members everyone shares
    plans_sync()
    ledger.credits_purchase(credits=300, actor="tests")
    for uid in SHARED:
        operations.member_create(uid=uid, plan="pro", actor="tests")
    spent_before = sandbox.state.initial_balance - sandbox.state.balance
    charged_before = -sum(
        LedgerEntry.objects.filter(
            account__kind=Account.Kind.WALLET, transaction__kind__startswith="member_"
        ).values_list("amount", flat=True)
    )
    barrier = threading.Barrier(THREADS)
    refusals: list[str] = []
    unexpected: list[BaseException] = []

    def worker(n: int) -> None:
        rng = random.Random(n)
        own = f"t{n}"
        barrier.wait()
        try:
            for _ in range(ROUNDS):
                for uid in (own, rng.choice(SHARED)):
                    try:
                        _mutation(rng, uid)()
                    except ServiceError as exc:
                        refusals.append(exc.code)
                    except BaseException as exc:  # a deadlock or any other error
                        unexpected.append(exc)
        finally:
            connections.close_all()

    # when
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(worker, range(THREADS)))

    # then: only the refusals a race explains, nothing left in flight or held
    assert unexpected == []
    assert set(refusals) <= EXPECTED_REFUSALS
    assert not Operation.objects.filter(status__in=Operation.IN_FLIGHT).exists()
    wallet = Account.objects.get(kind=Account.Kind.WALLET)
    assert wallet.held == 0
    assert wallet.balance >= 0
    assert ledger_violations() == []
    # the model: upstream charged independently; both sides agree to the hundredth
    charged = -sum(
        LedgerEntry.objects.filter(
            account__kind=Account.Kind.WALLET, transaction__kind__startswith="member_"
        ).values_list("amount", flat=True)
    )
    spent_upstream = sandbox.state.initial_balance - sandbox.state.balance
    assert spent_upstream - spent_before == charged - charged_before
    settled = Operation.objects.filter(status=Operation.Status.SUCCEEDED)
    assert sum(settled.values_list("amount", flat=True)) == charged
    assert Member.objects.exclude(status=Member.Status.DELETED).count() == len(
        [m for m in sandbox.state.members.values()]
    )
