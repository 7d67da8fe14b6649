"""The simulated Organization API, driven over HTTP like any upstream client would."""

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import quote

import httpx
import jwt
import pytest

from orgportal import clock
from sandbox.server import SandboxServer
from sandbox.state.store import DEFAULT_MEMBER_KEY_SECRET

ORG_KEY = "test-org-key"
T0 = dt.datetime(2025, 10, 2, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(org_key=ORG_KEY, seed=7) as server:
        yield server


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ORG_KEY}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    clock.freeze(T0)
    yield
    clock.reset()


def member_path(uid: str, action: str | None = None) -> str:
    path = f"/api/organization/members/{quote(uid, safe='')}"
    return f"{path}/{action}" if action else path


def create(api: httpx.Client, uid: str, plan: str = "pro", **fields: str) -> dict:
    response = api.post(
        "/api/organization/members/create", json={"uid": uid, "plan": plan, **fields}
    )
    assert response.status_code == 200, response.text
    return response.json()["member"]


def balance(api: httpx.Client) -> Decimal:
    return Decimal(api.get("/_sandbox/state").json()["balance"])


def member_count(api: httpx.Client) -> int:
    return api.get("/_sandbox/state").json()["member_count"]


def set_faults(api: httpx.Client, **faults: object) -> dict:
    response = api.post("/_sandbox/faults", json=faults)
    assert response.status_code == 200, response.text
    return response.json()["faults"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    return body


# --- plans and auth -----------------------------------------------------------------


def test_plans_have_the_documented_shape(api):
    # when
    response = api.get("/api/organization/plans")

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


def test_unknown_route_is_a_json_404(api):
    # when
    response = api.get("/api/organization/nothing-here")

    # then
    assert_error(response, 404, "NOT_FOUND")


# --- create -------------------------------------------------------------------------


def test_create_returns_the_documented_member_and_charges_the_price(api, frozen_clock):
    # given
    before = balance(api)

    # when
    member = create(api, "john_doe", "pro", full_name="John Doe")

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
    assert before - balance(api) == Decimal("15.00")


@pytest.mark.parametrize(
    ("plan", "limits"),
    [
        ("pro", (25, 50_000, 2, 1)),
        ("ultra", (40, 120_000, 5, 1)),
        ("mega", (80, 0, 12, 3)),
        ("ultra_plus", (80, 0, 5, 1)),
    ],
)
def test_members_get_their_plans_limits(api, plan, limits):
    # when
    member = create(api, f"user-{plan}", plan)

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
                keys.append(create(client, "alice")["api_key"])

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
def test_create_refuses_malformed_requests(api, body, field):
    # when
    response = api.post(
        "/api/organization/members/create",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    # then
    error = assert_error(response, 400, "INVALID_REQUEST")
    assert error["details"]["field"] == field
    assert member_count(api) == 0


def test_a_uid_of_100_characters_is_accepted(api):
    # when
    member = create(api, "u" * 100)

    # then
    assert member["uid"] == "u" * 100


def test_create_refuses_an_unknown_plan(api):
    # when
    response = api.post(
        "/api/organization/members/create", json={"uid": "a", "plan": "gold"}
    )

    # then
    assert_error(response, 400, "INVALID_PLAN")
    assert member_count(api) == 0


def test_create_refuses_a_taken_uid_and_charges_once(api):
    # given
    create(api, "alice")
    before = balance(api)

    # when
    response = api.post(
        "/api/organization/members/create", json={"uid": "alice", "plan": "mega"}
    )

    # then
    assert_error(response, 409, "MEMBER_EXISTS")
    assert balance(api) == before
    assert api.get(member_path("alice")).json()["member"]["plan"] == "pro"


def test_create_without_enough_credits_changes_nothing(api):
    # given
    api.post("/_sandbox/credits", json={"credits": "-999990.00"})

    # when
    response = api.post(
        "/api/organization/members/create", json={"uid": "alice", "plan": "pro"}
    )

    # then
    assert_error(response, 402, "INSUFFICIENT_CREDITS")
    assert balance(api) == Decimal("10.00")
    assert member_count(api) == 0


def test_uids_with_any_characters_round_trip_through_the_path(api):
    # given
    uid = "a/b c?#%é&x=1"
    create(api, uid)

    # when
    got = api.get(member_path(uid))
    updated = api.post(member_path(uid, "update"), json={"plan": "ultra"})
    cancelled = api.post(member_path(uid, "cancel"))
    deleted = api.delete(member_path(uid))

    # then
    assert got.json()["member"]["uid"] == uid
    assert got.json()["member"]["email"] == f"org_{uid}@company.com"
    assert updated.json()["member"]["plan"] == "ultra"
    assert cancelled.json()["member"]["status"] == "cancelled"
    assert deleted.json() == {"success": True, "message": "Member deleted"}


def test_oversized_bodies_are_refused(api):
    # when
    response = api.post(
        "/api/organization/members/create",
        content=b'{"uid": "' + b"x" * 70_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )

    # then
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


# --- list and get -------------------------------------------------------------------


def test_members_are_listed_in_creation_order_page_by_page(api, frozen_clock):
    # given: two created in the same millisecond, then one per minute
    create(api, "same-time-b")
    create(api, "same-time-a")
    for n in range(21):
        clock.advance(dt.timedelta(minutes=1))
        create(api, f"user-{n:02d}")
    expected = ["same-time-a", "same-time-b"] + [f"user-{n:02d}" for n in range(21)]

    # when
    pages = [
        api.get("/api/organization/members", params={"page": p, "limit": 10}).json()
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


def test_members_list_defaults_to_the_first_ten(api):
    # given
    for n in range(12):
        create(api, f"user-{n:02d}")

    # when
    body = api.get("/api/organization/members").json()

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
def test_members_list_refuses_bad_paging(api, params, field):
    # when
    response = api.get("/api/organization/members", params=params)

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
def test_unknown_members_are_not_found(api, method, action, body):
    # when
    response = api.request(method, member_path("ghost", action), json=body)

    # then
    assert_error(response, 404, "MEMBER_NOT_FOUND")


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
    api, frozen_clock, from_plan, to_plan, elapsed_days, charge
):
    # given
    create(api, "alice", from_plan)
    clock.advance(elapsed_days * DAY)
    before = balance(api)

    # when
    response = api.post(member_path("alice", "update"), json={"plan": to_plan})

    # then
    member = response.json()["member"]
    assert before - balance(api) == charge
    assert member["plan"] == to_plan
    assert member["status"] == "active"
    now = T0 + elapsed_days * DAY
    assert member["plan_end_at"] == (now + 30 * DAY).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_plan_change_brings_the_new_plans_limits(api):
    # given
    create(api, "alice", "pro")

    # when
    member = api.post(member_path("alice", "update"), json={"plan": "mega"}).json()[
        "member"
    ]

    # then
    assert (member["rate_limit"], member["quota"], member["websocket_symbols"]) == (
        80,
        0,
        12,
    )
    assert member["websocket_connections"] == 3


def test_prorating_uses_what_was_paid_for_the_current_period(api, frozen_clock):
    # given: pro, then ultra (paid 25 for the new period), then half-way through it
    create(api, "alice", "pro")
    api.post(member_path("alice", "update"), json={"plan": "ultra"})
    clock.advance(15 * DAY)
    before = balance(api)

    # when
    api.post(member_path("alice", "update"), json={"plan": "mega"})

    # then: (50 - 25) x 15/30
    assert before - balance(api) == Decimal("12.50")


def test_renewal_before_expiry_stacks_a_full_period(api, frozen_clock):
    # given
    create(api, "alice", "pro")
    clock.advance(10 * DAY)
    before = balance(api)

    # when
    member = api.post(member_path("alice", "update"), json={"plan": "pro"}).json()[
        "member"
    ]

    # then
    assert before - balance(api) == Decimal("15.00")
    assert member["plan_end_at"] == "2025-12-01T00:00:00.000Z"
    assert member["status"] == "active"


def test_renewal_after_expiry_starts_now(api, frozen_clock):
    # given
    create(api, "alice", "pro")
    clock.advance(31 * DAY)
    expired = api.get(member_path("alice")).json()["member"]
    before = balance(api)

    # when
    member = api.post(member_path("alice", "update"), json={"plan": "pro"}).json()[
        "member"
    ]

    # then
    assert expired["status"] == "expired"
    assert before - balance(api) == Decimal("15.00")
    assert member["status"] == "active"
    assert member["plan_end_at"] == "2025-12-02T00:00:00.000Z"


def test_changing_an_expired_member_charges_the_full_new_price(api, frozen_clock):
    # given
    create(api, "alice", "pro")
    api.post("/_sandbox/members/alice/expire")
    before = balance(api)

    # when
    member = api.post(member_path("alice", "update"), json={"plan": "ultra"}).json()[
        "member"
    ]

    # then
    assert before - balance(api) == Decimal("25.00")
    assert (member["status"], member["plan_end_at"]) == (
        "active",
        "2025-11-01T00:00:00.000Z",
    )


@pytest.mark.parametrize("to_plan", ["pro", "ultra"])
def test_updating_a_cancelled_member_reactivates_at_full_price(
    api, frozen_clock, to_plan
):
    # given
    create(api, "alice", "pro")
    clock.advance(5 * DAY)
    api.post(member_path("alice", "cancel"))
    before = balance(api)

    # when
    member = api.post(member_path("alice", "update"), json={"plan": to_plan}).json()[
        "member"
    ]

    # then
    price = {"pro": Decimal("15.00"), "ultra": Decimal("25.00")}[to_plan]
    assert before - balance(api) == price
    assert (member["status"], member["plan"]) == ("active", to_plan)
    assert member["plan_end_at"] == "2025-11-06T00:00:00.000Z"


def test_update_without_enough_credits_changes_nothing(api, frozen_clock):
    # given
    create(api, "alice", "pro")
    api.post("/_sandbox/credits", json={"credits": f"-{balance(api) - 1}"})

    # when
    response = api.post(member_path("alice", "update"), json={"plan": "mega"})

    # then
    assert_error(response, 402, "INSUFFICIENT_CREDITS")
    assert balance(api) == Decimal("1.00")
    assert api.get(member_path("alice")).json()["member"]["plan"] == "pro"


def test_update_needs_a_plan_even_to_rename(api):
    # given
    create(api, "alice", "pro", full_name="Alice")

    # when
    response = api.post(member_path("alice", "update"), json={"full_name": "Al"})

    # then
    error = assert_error(response, 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "plan"
    assert api.get(member_path("alice")).json()["member"]["full_name"] == "Alice"


def test_update_can_rename_with_the_plan(api):
    # given
    create(api, "alice", "pro", full_name="Alice")

    # when
    member = api.post(
        member_path("alice", "update"), json={"plan": "ultra", "full_name": "Al"}
    ).json()["member"]

    # then
    assert member["full_name"] == "Al"


def test_update_refuses_an_unknown_plan(api):
    # given
    create(api, "alice", "pro")

    # when
    response = api.post(member_path("alice", "update"), json={"plan": "gold"})

    # then
    assert_error(response, 400, "INVALID_PLAN")


def test_cancel_refunds_the_remaining_time(api, frozen_clock):
    # given
    create(api, "alice", "pro")
    clock.advance(10 * DAY)
    before = balance(api)

    # when
    member = api.post(member_path("alice", "cancel")).json()["member"]

    # then: 20 of 30 days left of 15.00
    assert balance(api) - before == Decimal("10.00")
    assert member["status"] == "cancelled"
    assert member["plan_end_at"] == "2025-10-12T00:00:00.000Z"


def test_cancel_after_an_early_renewal_refunds_both_periods(api, frozen_clock):
    # given
    create(api, "alice", "pro")
    api.post(member_path("alice", "update"), json={"plan": "pro"})
    before = balance(api)

    # when
    api.post(member_path("alice", "cancel"))

    # then
    assert balance(api) - before == Decimal("30.00")


@pytest.mark.parametrize("expire", [False, True], ids=["cancelled", "expired"])
def test_only_active_members_can_be_cancelled(api, expire):
    # given
    create(api, "alice", "pro")
    if expire:
        api.post("/_sandbox/members/alice/expire")
    else:
        api.post(member_path("alice", "cancel"))
    before = balance(api)

    # when
    response = api.post(member_path("alice", "cancel"))

    # then
    error = assert_error(response, 409, "MEMBER_NOT_ACTIVE")
    assert error["details"]["status"] == ("expired" if expire else "cancelled")
    assert balance(api) == before


def test_delete_refunds_an_active_member_and_frees_the_uid(api, frozen_clock):
    # given
    create(api, "alice", "mega")
    clock.advance(15 * DAY)
    before = balance(api)

    # when
    response = api.delete(member_path("alice"))

    # then
    assert response.json() == {"success": True, "message": "Member deleted"}
    assert balance(api) - before == Decimal("25.00")
    assert_error(api.get(member_path("alice")), 404, "MEMBER_NOT_FOUND")
    assert create(api, "alice", "pro")["plan"] == "pro"


def test_delete_of_a_cancelled_member_refunds_nothing(api):
    # given
    create(api, "alice", "pro")
    api.post(member_path("alice", "cancel"))
    before = balance(api)

    # when
    api.delete(member_path("alice"))

    # then
    assert balance(api) == before
    assert member_count(api) == 0


def test_the_documented_curl_flow(api, frozen_clock):
    # given
    start = balance(api)

    # when
    created = api.post(
        "/api/organization/members/create",
        json={"uid": "john_doe", "plan": "pro", "full_name": "John Doe"},
    )
    listed = api.get("/api/organization/members", params={"page": 1, "limit": 10})
    got = api.get("/api/organization/members/john_doe")
    clock.advance(15 * DAY)
    updated = api.post(
        "/api/organization/members/john_doe/update",
        json={"plan": "ultra", "full_name": "John Doe Jr."},
    )
    cancelled = api.post("/api/organization/members/john_doe/cancel")
    deleted = api.delete("/api/organization/members/john_doe")

    # then
    assert created.json()["member"]["email"] == "org_john_doe@company.com"
    assert [m["uid"] for m in listed.json()["members"]] == ["john_doe"]
    assert got.json()["member"] == created.json()["member"]
    assert updated.json()["member"]["plan"] == "ultra"
    assert updated.json()["member"]["full_name"] == "John Doe Jr."
    assert cancelled.json()["member"]["status"] == "cancelled"
    assert deleted.json() == {"success": True, "message": "Member deleted"}
    # 15.00 paid, 5.00 for the upgrade, 25.00 back on cancel right after it
    assert start - balance(api) == Decimal("-5.00")
    assert api.get("/api/organization/members").json()["total"] == 0


# --- faults -------------------------------------------------------------------------


def test_an_error_fault_refuses_mutations_without_applying_them(api):
    # given
    create(api, "alice", "pro")
    set_faults(api, error_rate=1.0)
    before = balance(api)

    # when
    created = api.post(
        "/api/organization/members/create", json={"uid": "bob", "plan": "pro"}
    )
    updated = api.post(member_path("alice", "update"), json={"plan": "mega"})
    read = api.get(member_path("alice"))

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
    assert balance(api) == before
    assert member_count(api) == 1


def test_faults_scoped_to_all_refuse_reads_too(api):
    # given
    set_faults(api, error_rate=1.0, scope="all")

    # when
    response = api.get("/api/organization/plans")

    # then
    assert_error(response, 503, "SANDBOX_FAULT")


def test_an_error_fault_can_ask_for_a_retry_after(api):
    # given
    set_faults(api, error_rate=1.0, retry_after=2)

    # when
    response = api.post(
        "/api/organization/members/create", json={"uid": "bob", "plan": "pro"}
    )

    # then
    assert response.headers["Retry-After"] == "2"


def test_a_timeout_fault_applies_the_change_but_holds_the_answer(api):
    # given
    set_faults(api, timeout_rate=1.0, hang_seconds=1.0)

    # when
    with pytest.raises(httpx.ReadTimeout):
        api.post(
            "/api/organization/members/create",
            json={"uid": "bob", "plan": "pro"},
            timeout=0.2,
        )

    # then
    assert api.get(member_path("bob")).json()["member"]["status"] == "active"


def test_latency_is_added_to_in_scope_requests(api):
    # given
    set_faults(api, latency_ms=150, scope="all")

    # when
    started = time.monotonic()
    response = api.get("/api/organization/plans")
    elapsed = time.monotonic() - started

    # then
    assert response.status_code == 200
    assert elapsed >= 0.15


def fault_sequence(api: httpx.Client, seed: int, n: int = 16) -> list[int]:
    api.post("/_sandbox/reset")
    set_faults(api, error_rate=0.5, seed=seed)
    return [
        api.post(
            "/api/organization/members/create", json={"uid": f"u{i}", "plan": "pro"}
        ).status_code
        for i in range(n)
    ]


def test_faults_follow_the_seed(api):
    # when
    first = fault_sequence(api, seed=3)
    again = fault_sequence(api, seed=3)
    other = fault_sequence(api, seed=4)

    # then
    assert first == again
    assert set(first) == {200, 503}
    assert other != first


def test_faults_can_be_read_back_and_cleared_by_reset(api):
    # given
    set_faults(api, error_rate=0.25, latency_ms=5, seed=11, scope="all")

    # when
    shown = api.get("/_sandbox/faults").json()["faults"]
    api.post("/_sandbox/reset")
    after = api.get("/_sandbox/faults").json()["faults"]

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
def test_bad_fault_settings_are_refused(api, faults):
    # when
    response = api.post("/_sandbox/faults", json=faults)

    # then
    assert_error(response, 400, "INVALID_REQUEST")
    assert api.get("/_sandbox/faults").json()["faults"]["error_rate"] == 0.0


# --- control API --------------------------------------------------------------------


def test_state_shows_members_balance_and_faults(api):
    # given
    create(api, "alice", "pro")

    # when
    state = api.get("/_sandbox/state").json()

    # then
    assert state["member_count"] == 1
    assert state["balance"] == "999985.00"
    assert state["faults"]["error_rate"] == 0.0


def test_credits_are_added_to_the_balance(api):
    # when
    response = api.post("/_sandbox/credits", json={"credits": "100.25"})

    # then
    assert response.json()["balance"] == "1000100.25"
    assert balance(api) == Decimal("1000100.25")


@pytest.mark.parametrize("credits", ["1.005", "abc", 1.5, None, "-2000000.00"], ids=str)
def test_bad_credit_amounts_are_refused(api, credits):
    # when
    response = api.post("/_sandbox/credits", json={"credits": credits})

    # then
    assert_error(response, 400, "INVALID_REQUEST")
    assert balance(api) == Decimal("1000000.00")


def test_reset_clears_members_and_restores_the_balance(api):
    # given
    create(api, "alice", "mega")
    api.post("/_sandbox/credits", json={"credits": "5"})

    # when
    api.post("/_sandbox/reset")

    # then
    assert member_count(api) == 0
    assert balance(api) == Decimal("1000000.00")


def test_expire_ends_the_paid_time_now(api, frozen_clock):
    # given
    create(api, "alice", "pro")

    # when
    member = api.post("/_sandbox/members/alice/expire").json()["member"]

    # then
    assert member["status"] == "expired"
    assert member["plan_end_at"] == "2025-10-02T00:00:00.000Z"


def test_expire_of_an_unknown_member_is_not_found(api):
    # when
    response = api.post("/_sandbox/members/ghost/expire")

    # then
    assert_error(response, 404, "MEMBER_NOT_FOUND")
