"""Random sequences of operations with random clock jumps keep every ledger invariant and
match an independent, deliberately simple model of the wallet."""

import datetime as dt
from fractions import Fraction

import pytest
from django.db import transaction
from django.test import TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from members.errors import ServiceError
from members.services import cache_events, operations
from members.services.plans import plans_sync
from orgportal import clock
from tests.conftest import T0

PRICES = {"pro": 1500, "ultra": 2500, "mega": 5000}
DAY = 86_400
TERM = 30 * DAY


class Model:
    """Wallet arithmetic straight from design.md, with none of the production code."""

    def __init__(self):
        self.wallet = 0
        self.bought = 0  # hundredths bought and not refunded for cash
        self.now = 0  # seconds since T0
        self.members = {}  # uid -> {"plan", "terms": [(price, start, end)], "cancelled"}

    def active(self, uid):
        m = self.members.get(uid)
        return (
            m is not None
            and not m["cancelled"]
            and max(e for _, _, e in m["terms"]) > self.now
        )

    def unused(self, m, delta=None):
        total = Fraction(0)
        for price, start, end in m["terms"]:
            left = max(0, end - max(self.now, start))
            total += Fraction(
                ((delta - price) if delta is not None else price) * left, end - start
            )
        return round(total)

    def apply(self, step):
        """Returns True when the step should succeed, after applying it."""
        kind, uid, arg = step
        m = self.members.get(uid)
        if kind == "purchase":
            self.wallet += arg * 100
            self.bought += arg * 100
            return True
        if kind == "refund":
            if arg * 100 > min(self.wallet, self.bought):
                return False
            self.wallet -= arg * 100
            self.bought -= arg * 100
            return True
        if kind == "create":
            if m is not None or PRICES[arg] > self.wallet:
                return False
            self.wallet -= PRICES[arg]
            self.members[uid] = {
                "plan": arg,
                "terms": [(PRICES[arg], self.now, self.now + TERM)],
                "cancelled": False,
            }
            return True
        if m is None:
            return False
        if kind == "renew" or (kind == "change" and arg == m["plan"]):
            price = PRICES[m["plan"]]
            if price > self.wallet:
                return False
            self.wallet -= price
            if self.active(uid):
                start = max(e for _, _, e in m["terms"])
                m["terms"].append((price, start, start + TERM))
            else:
                m["terms"] = [(price, self.now, self.now + TERM)]
                m["cancelled"] = False
            return True
        if kind == "change":
            charge = (
                self.unused(m, delta=PRICES[arg]) if self.active(uid) else PRICES[arg]
            )
            if charge > self.wallet:
                return False
            self.wallet -= charge
            m.update(
                plan=arg,
                terms=[(PRICES[arg], self.now, self.now + TERM)],
                cancelled=False,
            )
            return True
        if kind == "cancel":
            if not self.active(uid):
                return False
            self.wallet += self.unused(m)
            m.update(
                cancelled=True,
                terms=[(p, s, min(e, self.now)) for p, s, e in m["terms"]],
            )
            return True
        if kind == "delete":
            if self.active(uid):
                self.wallet += self.unused(m)
            del self.members[uid]
            return True
        raise AssertionError(kind)


uids = st.sampled_from(["a", "b", "c"])
plans = st.sampled_from(list(PRICES))
steps = st.one_of(
    st.tuples(st.just("create"), uids, plans),
    st.tuples(st.just("change"), uids, plans),
    st.tuples(st.just("renew"), uids, st.none()),
    st.tuples(st.just("cancel"), uids, st.none()),
    st.tuples(st.just("delete"), uids, st.none()),
    st.tuples(st.just("purchase"), st.none(), st.integers(min_value=1, max_value=120)),
    st.tuples(st.just("refund"), st.none(), st.integers(min_value=1, max_value=60)),
    st.tuples(st.just("wait"), st.none(), st.integers(min_value=1, max_value=40 * DAY)),
)


class _Rollback(Exception):
    pass


def run(step):
    kind, uid, arg = step
    if kind == "purchase":
        return ledger.credits_purchase(credits=arg, actor="prop")
    if kind == "refund":
        return ledger.credits_refund(credits=arg, actor="prop")
    if kind == "create":
        return operations.member_create(uid=uid, plan=arg, actor="prop")
    if kind == "change":
        return operations.member_change_plan(uid=uid, plan=arg, actor="prop")
    if kind == "renew":
        return operations.member_renew(uid=uid, actor="prop")
    if kind == "cancel":
        return operations.member_cancel(uid=uid, actor="prop")
    return operations.member_delete(uid=uid, actor="prop")


@pytest.mark.django_db
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(steps, min_size=1, max_size=14))
def test_random_sequences_keep_the_ledger_exact(sandbox, sequence):
    sandbox.state.reset()
    clock.freeze(T0)
    model = Model()
    told: list[int] = []  # members the gateways were told changed
    cache_events.listen(told.append)
    try:
        with transaction.atomic():
            plans_sync()
            for step in sequence:
                if step[0] == "wait":
                    clock.advance(dt.timedelta(seconds=step[2]))
                    model.now += step[2]
                    continue
                expected = model.apply(step)
                try:
                    # What each step defers to its commit (cache events, tasks)
                    # runs right after it, as it would outside this test's
                    # rollback-only transaction.
                    with TestCase.captureOnCommitCallbacks(execute=True):
                        run(step)
                    succeeded = True
                except ServiceError:
                    succeeded = False
                assert succeeded == expected, step
                assert ledger.account_system(ledger.WALLET).balance == model.wallet, (
                    step
                )
            assert ledger_violations() == []
            if any(step[0] == "create" for step in sequence) and model.members:
                assert told, "a member was created but no commit callback ran"
            raise _Rollback
    except _Rollback:
        pass
    finally:
        cache_events.unlisten(told.append)
        clock.reset()
