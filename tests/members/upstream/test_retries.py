"""The Organization API client against a real sandbox: what is retried, with which backoff, and
what ends unavailable or unknown."""

import pytest

from members.upstream import (
    UpstreamOutcomeUnknown,
    UpstreamUnavailable,
)
from orgportal import backoff
from tests.members.upstream.helpers import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    MAX_RETRIES,
    ORG_KEY,
    calls,
    member_count,
)

# --- retries ------------------------------------------------------------------------


def test_a_refused_mutation_is_retried_with_jittered_backoff_then_unavailable(
    client, control, sleeps
):
    # given
    control.post("/faults", json={"error_rate": 1.0})
    retried_before = calls("member_create", "retried")
    unavailable_before = calls("member_create", "unavailable")

    # when
    with pytest.raises(UpstreamUnavailable) as caught:
        client.member_create(uid="alice", plan="pro")

    # then
    assert (caught.value.status, caught.value.code) == (503, "SANDBOX_FAULT")
    assert len(sleeps) == MAX_RETRIES
    for attempt, delay in enumerate(sleeps):
        assert 0 <= delay <= min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
    assert member_count(control) == 0
    assert calls("member_create", "retried") - retried_before == MAX_RETRIES
    assert calls("member_create", "unavailable") - unavailable_before == 1


def test_backoff_draws_full_jitter_up_to_a_capped_exponential(
    make_client, control, sleeps, monkeypatch
):
    # given
    ceilings = []

    def uniform(low: float, high: float) -> float:
        ceilings.append((low, high))
        return high / 2

    monkeypatch.setattr(backoff.random, "uniform", uniform)
    control.post("/faults", json={"error_rate": 1.0})
    client = make_client(max_retries=5, backoff_base=0.1, backoff_cap=0.5)

    # when
    with pytest.raises(UpstreamUnavailable):
        client.member_create(uid="alice", plan="pro")

    # then
    assert ceilings == [(0, 0.1), (0, 0.2), (0, 0.4), (0, 0.5), (0, 0.5)]
    assert sleeps == [0.05, 0.1, 0.2, 0.25, 0.25]


def test_a_refused_mutation_succeeds_once_upstream_recovers(
    make_client, control, sleeps
):
    # given
    control.post("/faults", json={"error_rate": 1.0})

    def recover(seconds: float) -> None:
        sleeps.append(seconds)
        control.post("/faults", json={"error_rate": 0.0})

    client = make_client(sleep=recover)

    # when
    member = client.member_create(uid="alice", plan="pro")

    # then
    assert member["uid"] == "alice"
    assert len(sleeps) == 1
    assert member_count(control) == 1


def test_a_refused_read_is_retried(make_client, control, sleeps):
    # given
    control.post("/faults", json={"error_rate": 1.0, "scope": "all"})

    def recover(seconds: float) -> None:
        sleeps.append(seconds)
        control.post("/faults", json={"error_rate": 0.0})

    client = make_client(sleep=recover)

    # when
    plans = client.plans()

    # then
    assert plans["success"] is True
    assert len(sleeps) == 1


def test_retry_after_is_honoured_and_capped(make_client, control, sleeps):
    # given
    control.post("/faults", json={"error_rate": 1.0, "retry_after": 0.7})
    client = make_client(max_retries=2)

    # when
    with pytest.raises(UpstreamUnavailable):
        client.member_create(uid="alice", plan="pro")
    control.post("/faults", json={"retry_after": 30})
    with pytest.raises(UpstreamUnavailable):
        client.member_create(uid="alice", plan="pro")

    # then
    assert sleeps == [0.7, 0.7, BACKOFF_CAP, BACKOFF_CAP]


def test_a_timed_out_mutation_is_not_retried_and_may_have_happened(
    make_client, control, sleeps
):
    # given
    control.post("/faults", json={"timeout_rate": 1.0, "hang_seconds": 1.0})
    client = make_client(timeout=0.2)
    unknown_before = calls("member_create", "unknown")

    # when
    with pytest.raises(UpstreamOutcomeUnknown):
        client.member_create(uid="alice", plan="pro")

    # then: reading it back shows it was applied
    assert sleeps == []
    assert client.member_get(uid="alice")["status"] == "active"
    assert calls("member_create", "unknown") - unknown_before == 1


def test_a_timed_out_read_is_retried(make_client, control, sleeps):
    # given
    control.post(
        "/faults", json={"timeout_rate": 1.0, "hang_seconds": 1.0, "scope": "all"}
    )
    client = make_client(timeout=0.2, max_retries=2)

    # when
    with pytest.raises(UpstreamUnavailable):
        client.plans()

    # then
    assert len(sleeps) == 2


def test_an_unreachable_upstream_is_retried_even_for_mutations(
    make_client, sleeps, closed_port
):
    # given: a port nothing listens on
    client = make_client(base_url=f"http://127.0.0.1:{closed_port}")

    # when
    with pytest.raises(UpstreamUnavailable) as caught:
        client.member_create(uid="alice", plan="pro")

    # then
    assert len(sleeps) == MAX_RETRIES
    assert caught.value.status is None
    assert ORG_KEY not in str(caught.value)


def test_a_url_without_a_usable_scheme_fails_at_once(make_client, sleeps):
    # given
    client = make_client(base_url="localhost:8001")

    # when
    with pytest.raises(UpstreamUnavailable) as caught:
        client.member_create(uid="alice", plan="pro")

    # then
    assert "localhost:8001" in caught.value.message
    assert sleeps == []
