"""The speculation policy alone (marketdata.speculation): which remembered verdicts let
the upstream call start before the limiter answers. Pure: a controllable clock, no I/O."""

from dataclasses import dataclass

import pytest

from marketdata.limits import Decision
from marketdata.speculation import SpeculationPolicy


@dataclass(frozen=True)
class Member:
    member_id: int = 1
    rate_limit: int = 25
    quota: int = 0  # unlimited


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def allowed(remaining: int, quota_used: int = 0) -> Decision:
    return Decision(True, "ok", 0, remaining, 1000, quota_used)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def policy(clock) -> SpeculationPolicy:
    return SpeculationPolicy(clock=clock)


def test_without_a_verdict_there_is_no_speculation(policy):
    assert not policy.may_speculate(Member())


def test_each_speculation_uses_up_one_request_of_the_headroom(policy):
    # given: 25 a minute, so 5 must be left; the last verdict left 7
    member = Member(rate_limit=25)
    policy.remember(member, allowed(remaining=7))
    # when / then: 7, 6 and 5 left allow it; 4 does not
    assert [policy.may_speculate(member) for _ in range(4)] == [True] * 3 + [False]
    # a fresh verdict restores it
    policy.remember(member, allowed(remaining=7))
    assert policy.may_speculate(member)


def test_a_large_limit_needs_a_fifth_of_it_left(policy):
    member = Member(rate_limit=1000)
    policy.remember(member, allowed(remaining=199))
    assert not policy.may_speculate(member)
    policy.remember(member, allowed(remaining=200))
    assert policy.may_speculate(member)


def test_a_verdict_older_than_a_second_is_not_used(policy, clock):
    member = Member()
    policy.remember(member, allowed(remaining=20))
    clock.now += 1.0
    assert policy.may_speculate(member)
    clock.now += 0.01
    assert not policy.may_speculate(member)


def test_the_quota_must_have_twenty_left_unless_unlimited(policy):
    member = Member(quota=100)
    policy.remember(member, allowed(remaining=20, quota_used=80))
    assert policy.may_speculate(member)  # 20 left, then 19
    assert not policy.may_speculate(member)
    unlimited = Member(member_id=2, quota=0)
    policy.remember(unlimited, allowed(remaining=20, quota_used=10**9))
    assert policy.may_speculate(unlimited)


@pytest.mark.parametrize(
    "refusal",
    [
        Decision(False, "rate", 25, 0, 3000),
        Decision(False, "quota", 25, 20, 0, 100),
        Decision(False, "quota", 25, 20, 0),  # a refusal that reports no count
    ],
    ids=["rate", "quota", "quota-uncounted"],
)
def test_after_a_refusal_there_is_no_speculation(policy, refusal):
    member = Member(quota=100)
    policy.remember(member, refusal)
    assert not policy.may_speculate(member)


def test_the_memo_forgets_the_least_recently_seen_member_one_at_a_time():
    # given: room for three members; the first is seen again after the others
    policy = SpeculationPolicy(maxsize=3)
    members = [Member(member_id=n) for n in range(1, 5)]
    for member in members[:3]:
        policy.remember(member, allowed(remaining=20))
    policy.remember(members[0], allowed(remaining=20))
    # when: a fourth arrives
    policy.remember(members[3], allowed(remaining=20))
    # then: only the second is forgotten
    assert len(policy) == 3
    assert [policy.may_speculate(m) for m in members] == [True, False, True, True]
