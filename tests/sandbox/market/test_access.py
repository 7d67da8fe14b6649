"""The simulated market data REST API's plans (features, rate limits, quotas), member
keys and status, injected faults and control API."""

import datetime as dt

import httpx
import pytest

from orgportal import clock
from tests.sandbox.helpers import member_key
from tests.sandbox.market.helpers import (
    add_plan,
    assert_refused,
    series,
    usage,
)

# --- plans: features, rate limits, quotas ---------------------------------------------


def test_deep_history_needs_ultra(org, connect, frozen):
    # given
    pro = connect(member_key(org, "p", "pro"))
    ultra = connect(member_key(org, "u", "ultra"))
    path = "/v3/symbols/NASDAQ:AAPL/history?bar_type=minute&start_date=2026-02"

    # when
    refused = pro.get(path)
    allowed = ultra.get(path)

    # then
    body = assert_refused(refused, 403, "FEATURE_NOT_IN_PLAN")
    assert body["details"]["available_on"] == ["ultra", "mega"]
    assert allowed.status_code == 200


def test_tick_data_needs_mega(org, connect, mega, frozen):
    # given
    ultra = connect(member_key(org, "u", "ultra"))

    # when
    refused = series(ultra, "NASDAQ:AAPL", bar_type="tick", dp=10)
    ticks = series(mega, "NASDAQ:AAPL", bar_type="tick", dp=10)

    # then
    body = assert_refused(refused, 403, "FEATURE_NOT_IN_PLAN")
    assert body["details"]["available_on"] == ["mega"]
    data = ticks.json()
    assert data["bar_type"] == "tick" and len(data["series"]) == 10
    assert all(row["time"] <= frozen.timestamp() for row in data["series"])


def test_custom_plans_take_their_tiers_features(org, connect, frozen):
    # given
    add_plan(org, name="pro_fast", feature="pro", rate_limit=500)
    member = connect(member_key(org, "c", "pro_fast"))

    # when
    response = series(member, "NASDAQ:AAPL", bar_type="tick")

    # then
    assert_refused(response, 403, "FEATURE_NOT_IN_PLAN")
    info = member.get("/v3/symbols/NASDAQ:AAPL/info")
    assert info.headers["x-ratelimit-limit"] == "500"


def test_pro_sees_screeners_delayed(pro, mega, frozen):
    # when
    delayed = pro.get("/v3/screeners/stock").json()
    live = mega.get("/v3/screeners/stock").json()

    # then
    assert delayed["delay_seconds"] == 900
    assert live["delay_seconds"] == 0


def test_the_rate_limit_is_exact_and_says_when_to_retry(pro, org, frozen):
    # when: pro allows 25 a minute
    answers = [pro.get("/v3/symbols/NASDAQ:AAPL/info") for _ in range(26)]

    # then
    assert [a.status_code for a in answers[:25]] == [200] * 25
    remaining = [int(a.headers["x-ratelimit-remaining"]) for a in answers[:25]]
    assert remaining == list(range(24, -1, -1))
    body = assert_refused(answers[25], 429, "RATE_LIMITED")
    assert body["error"] == "Rate limit exceeded"
    assert answers[25].headers["retry-after"] == "60"
    assert usage(org, "pro-member")["total"] == 25

    # when: the window slides past the first requests
    clock.advance(dt.timedelta(seconds=59))
    still = pro.get("/v3/symbols/NASDAQ:AAPL/info")
    clock.advance(dt.timedelta(seconds=1))
    again = pro.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    assert still.status_code == 429 and still.headers["retry-after"] == "1"
    assert again.status_code == 200


def test_the_monthly_quota_is_exact(org, connect, frozen):
    # given: a custom plan with a tiny quota
    add_plan(org, name="tiny", feature="pro", rate_limit=100, quota=3)
    member = connect(member_key(org, "t", "tiny"))

    # when
    answers = [member.get("/v3/symbols/NASDAQ:AAPL/info") for _ in range(5)]

    # then
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    body = assert_refused(answers[3], 429, "QUOTA_EXCEEDED")
    assert body["error"] == "quota_exceeded"
    counted = usage(org, "t")
    assert counted["month_count"] == 3 and counted["quota_refused"] == 2
    assert org.get("/api/organization/members/t").json()["member"]["quota_exceeded"]

    # when: the next UTC month starts
    clock.freeze(dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    fresh = member.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    assert fresh.status_code == 200
    assert usage(org, "t")["month_count"] == 1


def test_refused_requests_are_not_counted(pro, org, frozen):
    # when
    pro.get("/v3/symbols/NASDAQ:NOPE/info")
    pro.get("/v3/symbols/NASDAQ:AAPL/series")
    pro.get("/v3/symbols/NASDAQ:AAPL/history?bar_type=minute&start_date=2026-01")
    pro.get("/v3/not-a-route")
    pro.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    counted = usage(org, "pro-member")
    assert counted["total"] == 1 and counted["last_minute"] == 1


# --- keys and member status -----------------------------------------------------------


@pytest.mark.parametrize("key", [None, "not-a-member-key"], ids=["missing", "unknown"])
def test_requests_without_a_member_key_are_refused(connect, frozen, key):
    # when
    response = connect(key).get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    assert response.status_code == 401
    assert response.json() == {
        "error": "Invalid or missing API key",
        "code": "UNAUTHORIZED",
        "details": {},
    }


@pytest.mark.parametrize("action", ["cancel", "expire"])
def test_inactive_members_are_refused(org, connect, frozen, action):
    # given
    client = connect(member_key(org, "gone", "pro"))
    if action == "cancel":
        org.post("/api/organization/members/gone/cancel")
    else:
        org.post("/_sandbox/members/gone/expire")

    # when
    response = client.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    body = assert_refused(response, 403, "SUBSCRIPTION_INACTIVE")
    assert body["details"]["status"] == (
        "cancelled" if action == "cancel" else "expired"
    )


def test_a_deleted_members_key_stops_working(org, connect, frozen):
    # given
    client = connect(member_key(org, "deleted", "pro"))
    org.delete("/api/organization/members/deleted")

    # when
    response = client.get("/v3/symbols/NASDAQ:AAPL/info")

    # then
    assert_refused(response, 401, "UNAUTHORIZED")


# --- faults ---------------------------------------------------------------------------


def test_a_dropped_connection_breaks_the_body(mega, org, frozen):
    # given
    org.post("/_sandbox/faults", json={"drop_rate": 1.0, "scope": "market"})

    # when / then
    with pytest.raises(httpx.RemoteProtocolError):
        series(mega, "NASDAQ:AAPL", bar_type="minute", dp=50)
    # Only the market API is in scope.
    assert org.get("/api/organization/plans").status_code == 200


def test_an_error_fault_refuses_without_counting(mega, org, frozen):
    # given
    org.post("/_sandbox/faults", json={"error_rate": 1.0, "scope": "market"})

    # when
    response = mega.get("/v3/symbols/NASDAQ:AAPL/info")
    member_reads = org.get("/api/organization/members")

    # then
    body = assert_refused(response, 503, "SANDBOX_FAULT")
    assert body["error"] == "Sandbox injected fault"
    assert usage(org, "mega-member")["total"] == 0
    assert member_reads.status_code == 200


def test_faults_scoped_to_all_cover_both_apis(mega, org, frozen):
    # given
    org.post("/_sandbox/faults", json={"error_rate": 1.0, "scope": "all"})

    # when
    market = mega.get("/v3/symbols/NASDAQ:AAPL/info")
    organization = org.get("/api/organization/plans")

    # then
    assert market.status_code == 503 and organization.status_code == 503


def test_a_drop_scoped_to_all_breaks_organization_answers_too(mega, org, frozen):
    # given
    org.post("/_sandbox/faults", json={"drop_rate": 1.0, "scope": "all"})

    # when / then
    with pytest.raises(httpx.RemoteProtocolError):
        org.get("/api/organization/plans")
    with pytest.raises(httpx.RemoteProtocolError):
        mega.get("/v3/symbols/exchanges")


def test_market_faults_follow_the_seed(mega, org, frozen):
    def statuses(seed: int) -> list[int]:
        org.post(
            "/_sandbox/faults",
            json={"error_rate": 0.5, "scope": "market", "seed": seed},
        )
        return [mega.get("/v3/symbols/exchanges").status_code for _ in range(12)]

    # when
    first, again, other = statuses(3), statuses(3), statuses(4)

    # then
    assert first == again
    assert set(first) == {200, 503}
    assert other != first


# --- the control API ------------------------------------------------------------------


def test_usage_and_market_settings_are_visible(mega, org, frozen):
    # given
    mega.get("/v3/symbols/NASDAQ:AAPL/info")
    mega.get("/v3/symbols/NASDAQ:AAPL/info")

    # when
    counted = usage(org, "mega-member")
    state = org.get("/_sandbox/state").json()

    # then
    assert counted == {
        "uid": "mega-member",
        "plan": "mega",
        "rate_limit": 80,
        "quota": 0,
        "last_minute": 2,
        "month": "2026-03",
        "month_count": 2,
        "total": 2,
        "rate_limited": 0,
        "quota_refused": 0,
        "quota_exceeded": False,
    }
    assert state["market"] == {"long_poll_seconds": 5.0}


def test_added_plans_are_in_the_catalogue_until_reset(org):
    # when
    add_plan(org, name="bench", feature="mega", rate_limit=1_000_000, quota=0)
    listed = org.get("/api/organization/plans").json()["custom_plans"]
    org.post("/_sandbox/reset")
    after = org.get("/api/organization/plans").json()["custom_plans"]

    # then
    assert "bench" in [plan["name"] for plan in listed]
    assert "bench" not in [plan["name"] for plan in after]


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"name": "x", "feature": "gold"}, "feature"),
        ({"name": "pro", "feature": "pro"}, "name"),
        ({"name": "x", "feature": "pro", "rate_limit": 0}, "rate_limit"),
        ({"name": "x", "feature": "pro", "price": "free"}, "price"),
    ],
)
def test_bad_plans_are_refused(org, plan, field):
    # when
    response = org.post("/_sandbox/plans", json=plan)

    # then
    assert response.status_code == 400
    assert response.json()["details"]["field"] == field
