"""The simulated Organization API: plan changes, renewals, cancelling and deleting
members, and what each charges or refunds."""

from decimal import Decimal

import pytest

from orgportal import clock
from tests.sandbox.helpers import create_member
from tests.sandbox.orgapi.helpers import (
    DAY,
    T0,
    assert_error,
    balance,
    member_count,
    member_path,
)

# --- plan changes, renewals, cancel, delete -----------------------------------------


@pytest.mark.parametrize(
    ("from_plan", "to_plan", "elapsed_days", "charge"),
    [
        ("pro", "ultra", 15, Decimal("5.00")),
        ("ultra", "pro", 15, Decimal("-5.00")),
        ("pro", "mega", 20, Decimal("11.67")),
        ("pro", "ultra_plus", 0, Decimal("25.00")),
    ],
)
def test_a_plan_change_charges_the_prorated_difference(
    org, frozen_clock, from_plan, to_plan, elapsed_days, charge
):
    # given
    create_member(org, "alice", from_plan)
    clock.advance(elapsed_days * DAY)
    before = balance(org)

    # when
    response = org.post(member_path("alice", "update"), json={"plan": to_plan})

    # then
    member = response.json()["member"]
    assert before - balance(org) == charge
    assert member["plan"] == to_plan
    assert member["status"] == "active"
    now = T0 + elapsed_days * DAY
    assert member["plan_end_at"] == (now + 30 * DAY).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_plan_change_brings_the_new_plans_limits(org):
    # given
    create_member(org, "alice", "pro")

    # when
    member = org.post(member_path("alice", "update"), json={"plan": "mega"}).json()[
        "member"
    ]

    # then
    assert (member["rate_limit"], member["quota"], member["websocket_symbols"]) == (
        80,
        0,
        12,
    )
    assert member["websocket_connections"] == 3


def test_prorating_uses_what_was_paid_for_the_current_period(org, frozen_clock):
    # given: pro, then ultra (paid 25 for the new period), then half-way through it
    create_member(org, "alice", "pro")
    org.post(member_path("alice", "update"), json={"plan": "ultra"})
    clock.advance(15 * DAY)
    before = balance(org)

    # when
    org.post(member_path("alice", "update"), json={"plan": "mega"})

    # then: (50 - 25) x 15/30
    assert before - balance(org) == Decimal("12.50")


def test_renewal_before_expiry_stacks_a_full_period(org, frozen_clock):
    # given
    create_member(org, "alice", "pro")
    clock.advance(10 * DAY)
    before = balance(org)

    # when
    member = org.post(member_path("alice", "update"), json={"plan": "pro"}).json()[
        "member"
    ]

    # then
    assert before - balance(org) == Decimal("15.00")
    assert member["plan_end_at"] == "2025-12-01T00:00:00.000Z"
    assert member["status"] == "active"


def test_renewal_after_expiry_starts_now(org, frozen_clock):
    # given
    create_member(org, "alice", "pro")
    clock.advance(31 * DAY)
    expired = org.get(member_path("alice")).json()["member"]
    before = balance(org)

    # when
    member = org.post(member_path("alice", "update"), json={"plan": "pro"}).json()[
        "member"
    ]

    # then
    assert expired["status"] == "expired"
    assert before - balance(org) == Decimal("15.00")
    assert member["status"] == "active"
    assert member["plan_end_at"] == "2025-12-02T00:00:00.000Z"


def test_changing_an_expired_member_charges_the_full_new_price(org, frozen_clock):
    # given
    create_member(org, "alice", "pro")
    org.post("/_sandbox/members/alice/expire")
    before = balance(org)

    # when
    member = org.post(member_path("alice", "update"), json={"plan": "ultra"}).json()[
        "member"
    ]

    # then
    assert before - balance(org) == Decimal("25.00")
    assert (member["status"], member["plan_end_at"]) == (
        "active",
        "2025-11-01T00:00:00.000Z",
    )


@pytest.mark.parametrize("to_plan", ["pro", "ultra"])
def test_updating_a_cancelled_member_reactivates_at_full_price(
    org, frozen_clock, to_plan
):
    # given
    create_member(org, "alice", "pro")
    clock.advance(5 * DAY)
    org.post(member_path("alice", "cancel"))
    before = balance(org)

    # when
    member = org.post(member_path("alice", "update"), json={"plan": to_plan}).json()[
        "member"
    ]

    # then
    price = {"pro": Decimal("15.00"), "ultra": Decimal("25.00")}[to_plan]
    assert before - balance(org) == price
    assert (member["status"], member["plan"]) == ("active", to_plan)
    assert member["plan_end_at"] == "2025-11-06T00:00:00.000Z"


def test_update_without_enough_credits_changes_nothing(org, frozen_clock):
    # given
    create_member(org, "alice", "pro")
    org.post("/_sandbox/credits", json={"credits": f"-{balance(org) - 1}"})

    # when
    response = org.post(member_path("alice", "update"), json={"plan": "mega"})

    # then
    assert_error(response, 402, "INSUFFICIENT_CREDITS")
    assert balance(org) == Decimal("1.00")
    assert org.get(member_path("alice")).json()["member"]["plan"] == "pro"


def test_update_needs_a_plan_even_to_rename(org):
    # given
    create_member(org, "alice", "pro", full_name="Alice")

    # when
    response = org.post(member_path("alice", "update"), json={"full_name": "Al"})

    # then
    error = assert_error(response, 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "plan"
    assert org.get(member_path("alice")).json()["member"]["full_name"] == "Alice"


def test_update_can_rename_with_the_plan(org):
    # given
    create_member(org, "alice", "pro", full_name="Alice")

    # when
    member = org.post(
        member_path("alice", "update"), json={"plan": "ultra", "full_name": "Al"}
    ).json()["member"]

    # then
    assert member["full_name"] == "Al"


def test_update_refuses_an_unknown_plan(org):
    # given
    create_member(org, "alice", "pro")

    # when
    response = org.post(member_path("alice", "update"), json={"plan": "gold"})

    # then
    assert_error(response, 400, "INVALID_PLAN")


def test_cancel_refunds_the_remaining_time(org, frozen_clock):
    # given
    create_member(org, "alice", "pro")
    clock.advance(10 * DAY)
    before = balance(org)

    # when
    member = org.post(member_path("alice", "cancel")).json()["member"]

    # then: 20 of 30 days left of 15.00
    assert balance(org) - before == Decimal("10.00")
    assert member["status"] == "cancelled"
    assert member["plan_end_at"] == "2025-10-12T00:00:00.000Z"


def test_cancel_after_an_early_renewal_refunds_both_periods(org, frozen_clock):
    # given
    create_member(org, "alice", "pro")
    org.post(member_path("alice", "update"), json={"plan": "pro"})
    before = balance(org)

    # when
    org.post(member_path("alice", "cancel"))

    # then
    assert balance(org) - before == Decimal("30.00")


@pytest.mark.parametrize("expire", [False, True], ids=["cancelled", "expired"])
def test_only_active_members_can_be_cancelled(org, expire):
    # given
    create_member(org, "alice", "pro")
    if expire:
        org.post("/_sandbox/members/alice/expire")
    else:
        org.post(member_path("alice", "cancel"))
    before = balance(org)

    # when
    response = org.post(member_path("alice", "cancel"))

    # then
    error = assert_error(response, 409, "MEMBER_NOT_ACTIVE")
    assert error["details"]["status"] == ("expired" if expire else "cancelled")
    assert balance(org) == before


def test_delete_refunds_an_active_member_and_frees_the_uid(org, frozen_clock):
    # given
    create_member(org, "alice", "mega")
    clock.advance(15 * DAY)
    before = balance(org)

    # when
    response = org.delete(member_path("alice"))

    # then
    assert response.json() == {"success": True, "message": "Member deleted"}
    assert balance(org) - before == Decimal("25.00")
    assert_error(org.get(member_path("alice")), 404, "MEMBER_NOT_FOUND")
    assert create_member(org, "alice", "pro")["plan"] == "pro"


def test_delete_of_a_cancelled_member_refunds_nothing(org):
    # given
    create_member(org, "alice", "pro")
    org.post(member_path("alice", "cancel"))
    before = balance(org)

    # when
    org.delete(member_path("alice"))

    # then
    assert balance(org) == before
    assert member_count(org) == 0


def test_the_documented_curl_flow(org, frozen_clock):
    # given
    start = balance(org)

    # when
    created = org.post(
        "/api/organization/members/create",
        json={"uid": "john_doe", "plan": "pro", "full_name": "John Doe"},
    )
    listed = org.get("/api/organization/members", params={"page": 1, "limit": 10})
    got = org.get("/api/organization/members/john_doe")
    clock.advance(15 * DAY)
    updated = org.post(
        "/api/organization/members/john_doe/update",
        json={"plan": "ultra", "full_name": "John Doe Jr."},
    )
    cancelled = org.post("/api/organization/members/john_doe/cancel")
    deleted = org.delete("/api/organization/members/john_doe")

    # then
    assert created.json()["member"]["email"] == "org_john_doe@company.com"
    assert [m["uid"] for m in listed.json()["members"]] == ["john_doe"]
    assert got.json()["member"] == created.json()["member"]
    assert updated.json()["member"]["plan"] == "ultra"
    assert updated.json()["member"]["full_name"] == "John Doe Jr."
    assert cancelled.json()["member"]["status"] == "cancelled"
    assert deleted.json() == {"success": True, "message": "Member deleted"}
    # 15.00 paid, 5.00 for the upgrade, 25.00 back on cancel right after it
    assert start - balance(org) == Decimal("-5.00")
    assert org.get("/api/organization/members").json()["total"] == 0
