"""The simulated Organization API's injected faults and its control API
(`/_sandbox/...`)."""

import time
from decimal import Decimal

import httpx
import pytest

from tests.sandbox.helpers import create_member
from tests.sandbox.orgapi.helpers import (
    assert_error,
    balance,
    member_count,
    member_path,
    set_faults,
)

# --- faults -------------------------------------------------------------------------


def test_an_error_fault_refuses_mutations_without_applying_them(org):
    # given
    create_member(org, "alice", "pro")
    set_faults(org, error_rate=1.0)
    before = balance(org)

    # when
    created = org.post(
        "/api/organization/members/create", json={"uid": "bob", "plan": "pro"}
    )
    updated = org.post(member_path("alice", "update"), json={"plan": "mega"})
    read = org.get(member_path("alice"))

    # then
    for response in (created, updated):
        assert response.status_code == 503
        assert response.json() == {
            "success": False,
            "error": "Sandbox injected fault",
            "code": "SANDBOX_FAULT",
            "details": {},
        }
        assert "Retry-After" not in response.headers
    assert read.json()["member"]["plan"] == "pro"
    assert balance(org) == before
    assert member_count(org) == 1


def test_faults_scoped_to_all_refuse_reads_too(org):
    # given
    set_faults(org, error_rate=1.0, scope="all")

    # when
    response = org.get("/api/organization/plans")

    # then
    assert_error(response, 503, "SANDBOX_FAULT")


def test_an_error_fault_can_ask_for_a_retry_after(org):
    # given
    set_faults(org, error_rate=1.0, retry_after=2)

    # when
    response = org.post(
        "/api/organization/members/create", json={"uid": "bob", "plan": "pro"}
    )

    # then
    assert response.headers["Retry-After"] == "2"


def test_a_timeout_fault_applies_the_change_but_holds_the_answer(org):
    # given
    set_faults(org, timeout_rate=1.0, hang_seconds=1.0)

    # when
    with pytest.raises(httpx.ReadTimeout):
        org.post(
            "/api/organization/members/create",
            json={"uid": "bob", "plan": "pro"},
            timeout=0.2,
        )

    # then
    assert org.get(member_path("bob")).json()["member"]["status"] == "active"


def test_latency_is_added_to_in_scope_requests(org):
    # given
    set_faults(org, latency_ms=150, scope="all")

    # when
    started = time.monotonic()
    response = org.get("/api/organization/plans")
    elapsed = time.monotonic() - started

    # then
    assert response.status_code == 200
    assert elapsed >= 0.15


def fault_sequence(org: httpx.Client, seed: int, n: int = 16) -> list[int]:
    org.post("/_sandbox/reset")
    set_faults(org, error_rate=0.5, seed=seed)
    return [
        org.post(
            "/api/organization/members/create", json={"uid": f"u{i}", "plan": "pro"}
        ).status_code
        for i in range(n)
    ]


def test_faults_follow_the_seed(org):
    # when
    first = fault_sequence(org, seed=3)
    again = fault_sequence(org, seed=3)
    other = fault_sequence(org, seed=4)

    # then
    assert first == again
    assert set(first) == {200, 503}
    assert other != first


def test_faults_can_be_read_back_and_cleared_by_reset(org):
    # given
    set_faults(org, error_rate=0.25, latency_ms=5, seed=11, scope="all")

    # when
    shown = org.get("/_sandbox/faults").json()["faults"]
    org.post("/_sandbox/reset")
    after = org.get("/_sandbox/faults").json()["faults"]

    # then
    assert shown == {
        "error_rate": 0.25,
        "latency_ms": 5,
        "timeout_rate": 0.0,
        "hang_seconds": 30.0,
        "scope": "all",
        "retry_after": None,
        "drop_rate": 0.0,
        "seed": 11,
    }
    assert after["error_rate"] == 0.0 and after["scope"] == "mutations"


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 1.5},
        {"error_rate": "high"},
        {"timeout_rate": -0.1},
        {"latency_ms": -1},
        {"latency_ms": 1.5},
        {"hang_seconds": "long"},
        {"seed": "x"},
        {"scope": "reads"},
        {"surprise": 1},
    ],
)
def test_bad_fault_settings_are_refused(org, faults):
    # when
    response = org.post("/_sandbox/faults", json=faults)

    # then
    assert_error(response, 400, "INVALID_REQUEST")
    assert org.get("/_sandbox/faults").json()["faults"]["error_rate"] == 0.0


# --- control API --------------------------------------------------------------------


def test_state_shows_members_balance_and_faults(org):
    # given
    create_member(org, "alice", "pro")

    # when
    state = org.get("/_sandbox/state").json()

    # then
    assert state["member_count"] == 1
    assert state["balance"] == "999985.00"
    assert state["faults"]["error_rate"] == 0.0


def test_credits_are_added_to_the_balance(org):
    # when
    response = org.post("/_sandbox/credits", json={"credits": "100.25"})

    # then
    assert response.json()["balance"] == "1000100.25"
    assert balance(org) == Decimal("1000100.25")


@pytest.mark.parametrize("credits", ["1.005", "abc", 1.5, None, "-2000000.00"], ids=str)
def test_bad_credit_amounts_are_refused(org, credits):
    # when
    response = org.post("/_sandbox/credits", json={"credits": credits})

    # then
    assert_error(response, 400, "INVALID_REQUEST")
    assert balance(org) == Decimal("1000000.00")


def test_reset_clears_members_and_restores_the_balance(org):
    # given
    create_member(org, "alice", "mega")
    org.post("/_sandbox/credits", json={"credits": "5"})

    # when
    org.post("/_sandbox/reset")

    # then
    assert member_count(org) == 0
    assert balance(org) == Decimal("1000000.00")


def test_expire_ends_the_paid_time_now(org, frozen_clock):
    # given
    create_member(org, "alice", "pro")

    # when
    member = org.post("/_sandbox/members/alice/expire").json()["member"]

    # then
    assert member["status"] == "expired"
    assert member["plan_end_at"] == "2025-10-02T00:00:00.000Z"


def test_expire_of_an_unknown_member_is_not_found(org):
    # when
    response = org.post("/_sandbox/members/ghost/expire")

    # then
    assert_error(response, 404, "MEMBER_NOT_FOUND")
