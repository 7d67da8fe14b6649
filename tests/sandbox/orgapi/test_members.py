"""The simulated Organization API: plans, the org key, creating, listing and reading
members, driven over HTTP like any upstream client would."""

import datetime as dt
import uuid
from decimal import Decimal

import httpx
import jwt
import pytest

from orgportal import clock
from sandbox.server import SandboxServer
from sandbox.state.store import DEFAULT_MEMBER_KEY_SECRET
from tests.conftest import ORG_KEY
from tests.sandbox.helpers import create_member
from tests.sandbox.orgapi.helpers import (
    T0,
    assert_error,
    balance,
    member_count,
    member_path,
)

# --- plans and auth -----------------------------------------------------------------


def test_plans_have_the_documented_shape(org):
    # when
    response = org.get("/api/organization/plans")

    # then
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "regular_plans": [
            {"name": "pro", "price": 15},
            {"name": "ultra", "price": 25},
            {"name": "mega", "price": 50},
        ],
        "custom_plans": [
            {
                "name": "ultra_plus",
                "price": 40,
                "feature": "ultra",
                "rate_limit": 80,
                "websocket_connections": 1,
                "websocket_symbols": 5,
                "quota": 0,
            }
        ],
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ORG_KEY}"}],
    ids=["missing", "wrong-key", "wrong-scheme"],
)
def test_requests_without_the_org_key_are_refused(sandbox, headers):
    # when
    response = httpx.get(f"{sandbox.url}/api/organization/plans", headers=headers)

    # then
    assert response.json() == {
        "success": False,
        "error": "Invalid or missing organization API key",
        "code": "UNAUTHORIZED",
        "details": {},
    }
    assert response.status_code == 401


def test_unknown_route_is_a_json_404(org):
    # when
    response = org.get("/api/organization/nothing-here")

    # then
    assert_error(response, 404, "NOT_FOUND")


# --- create -------------------------------------------------------------------------


def test_create_returns_the_documented_member_and_charges_the_price(org, frozen_clock):
    # given
    before = balance(org)

    # when
    member = create_member(org, "john_doe", "pro", full_name="John Doe")

    # then
    api_key = member.pop("api_key")
    assert member == {
        "uid": "john_doe",
        "email": "org_john_doe@company.com",
        "full_name": "John Doe",
        "role": "member",
        "plan": "pro",
        "status": "active",
        "created_at": "2025-10-02T00:00:00.000Z",
        "plan_end_at": "2025-11-01T00:00:00.000Z",
        "websocket_symbols": 2,
        "websocket_connections": 1,
        "newsfeed": True,
        "rate_limit": 25,
        "quota": 50000,
        "quota_exceeded": False,
    }
    claims = jwt.decode(api_key, DEFAULT_MEMBER_KEY_SECRET, algorithms=["HS256"])
    assert uuid.UUID(claims.pop("uuid")).version == 4
    assert claims == {
        "uid": "john_doe",
        "plan": "pro",
        "newsfeed_enabled": True,
        "websocket_symbols": 2,
        "websocket_connections": 1,
        "iat": int(T0.timestamp()),
    }
    assert before - balance(org) == Decimal("15.00")


@pytest.mark.parametrize(
    ("plan", "limits"),
    [
        ("pro", (25, 50_000, 2, 1)),
        ("ultra", (40, 120_000, 5, 1)),
        ("mega", (80, 0, 12, 3)),
        ("ultra_plus", (80, 0, 5, 1)),
    ],
)
def test_members_get_their_plans_limits(org, plan, limits):
    # when
    member = create_member(org, f"user-{plan}", plan)

    # then
    assert (
        member["rate_limit"],
        member["quota"],
        member["websocket_symbols"],
        member["websocket_connections"],
    ) == limits
    assert member["newsfeed"] is True


def test_member_keys_are_the_same_under_the_same_seed(frozen_clock):
    # given
    keys = []
    for _ in range(2):
        with SandboxServer(org_key=ORG_KEY, seed=99) as server:
            headers = {"Authorization": f"Bearer {ORG_KEY}"}
            with httpx.Client(base_url=server.url, headers=headers) as client:
                # when
                keys.append(create_member(client, "alice")["api_key"])

    # then
    assert keys[0] == keys[1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b"", "body"),
        (b'{"plan": "pro"}', "uid"),
        (b'{"uid": "", "plan": "pro"}', "uid"),
        (b'{"uid": 12, "plan": "pro"}', "uid"),
        (b'{"uid": "' + b"x" * 101 + b'", "plan": "pro"}', "uid"),
        (b'{"uid": "a"}', "plan"),
        (b'{"uid": "a", "plan": "pro", "full_name": 5}', "full_name"),
    ],
    ids=[
        "not-json",
        "not-object",
        "empty",
        "no-uid",
        "empty-uid",
        "uid-not-string",
        "uid-too-long",
        "no-plan",
        "full-name-not-string",
    ],
)
def test_create_refuses_malformed_requests(org, body, field):
    # when
    response = org.post(
        "/api/organization/members/create",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    # then
    error = assert_error(response, 400, "INVALID_REQUEST")
    assert error["details"]["field"] == field
    assert member_count(org) == 0


def test_a_uid_of_100_characters_is_accepted(org):
    # when
    member = create_member(org, "u" * 100)

    # then
    assert member["uid"] == "u" * 100


def test_create_refuses_an_unknown_plan(org):
    # when
    response = org.post(
        "/api/organization/members/create", json={"uid": "a", "plan": "gold"}
    )

    # then
    assert_error(response, 400, "INVALID_PLAN")
    assert member_count(org) == 0


def test_create_refuses_a_taken_uid_and_charges_once(org):
    # given
    create_member(org, "alice")
    before = balance(org)

    # when
    response = org.post(
        "/api/organization/members/create", json={"uid": "alice", "plan": "mega"}
    )

    # then
    assert_error(response, 409, "MEMBER_EXISTS")
    assert balance(org) == before
    assert org.get(member_path("alice")).json()["member"]["plan"] == "pro"


def test_create_without_enough_credits_changes_nothing(org):
    # given
    org.post("/_sandbox/credits", json={"credits": "-999990.00"})

    # when
    response = org.post(
        "/api/organization/members/create", json={"uid": "alice", "plan": "pro"}
    )

    # then
    assert_error(response, 402, "INSUFFICIENT_CREDITS")
    assert balance(org) == Decimal("10.00")
    assert member_count(org) == 0


def test_uids_with_any_characters_round_trip_through_the_path(org):
    # given
    uid = "a/b c?#%é&x=1"
    create_member(org, uid)

    # when
    got = org.get(member_path(uid))
    updated = org.post(member_path(uid, "update"), json={"plan": "ultra"})
    cancelled = org.post(member_path(uid, "cancel"))
    deleted = org.delete(member_path(uid))

    # then
    assert got.json()["member"]["uid"] == uid
    assert got.json()["member"]["email"] == f"org_{uid}@company.com"
    assert updated.json()["member"]["plan"] == "ultra"
    assert cancelled.json()["member"]["status"] == "cancelled"
    assert deleted.json() == {"success": True, "message": "Member deleted"}


def test_oversized_bodies_are_refused(org):
    # when
    response = org.post(
        "/api/organization/members/create",
        content=b'{"uid": "' + b"x" * 70_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )

    # then
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


# --- list and get -------------------------------------------------------------------


def test_members_are_listed_in_creation_order_page_by_page(org, frozen_clock):
    # given: two created in the same millisecond, then one per minute
    create_member(org, "same-time-b")
    create_member(org, "same-time-a")
    for n in range(21):
        clock.advance(dt.timedelta(minutes=1))
        create_member(org, f"user-{n:02d}")
    expected = ["same-time-a", "same-time-b"] + [f"user-{n:02d}" for n in range(21)]

    # when
    pages = [
        org.get("/api/organization/members", params={"page": p, "limit": 10}).json()
        for p in (1, 2, 3, 4)
    ]

    # then
    assert [m["uid"] for page in pages for m in page["members"]] == expected
    assert [len(page["members"]) for page in pages] == [10, 10, 3, 0]
    assert {k: v for k, v in pages[2].items() if k != "members"} == {
        "success": True,
        "page": 3,
        "limit": 10,
        "total": 23,
        "total_pages": 3,
    }


def test_members_list_defaults_to_the_first_ten(org):
    # given
    for n in range(12):
        create_member(org, f"user-{n:02d}")

    # when
    body = org.get("/api/organization/members").json()

    # then
    assert (body["page"], body["limit"], body["total"], body["total_pages"]) == (
        1,
        10,
        12,
        2,
    )
    assert len(body["members"]) == 10


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "1.5"}, "limit"),
    ],
)
def test_members_list_refuses_bad_paging(org, params, field):
    # when
    response = org.get("/api/organization/members", params=params)

    # then
    error = assert_error(response, 400, "INVALID_REQUEST")
    assert error["details"]["field"] == field


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("GET", None, None),
        ("POST", "update", {"plan": "pro"}),
        ("POST", "cancel", None),
        ("DELETE", None, None),
    ],
)
def test_unknown_members_are_not_found(org, method, action, body):
    # when
    response = org.request(method, member_path("ghost", action), json=body)

    # then
    assert_error(response, 404, "MEMBER_NOT_FOUND")
