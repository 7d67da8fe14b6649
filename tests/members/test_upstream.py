"""The Organization API client against a real sandbox; httpx.MockTransport only for
answers the sandbox never gives (dropped connections, bare 5xx, non-JSON bodies)."""

import json
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY

from members.upstream import (
    OrgClient,
    UpstreamConflict,
    UpstreamError,
    UpstreamInsufficientCredits,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamOutcomeUnknown,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from orgportal import backoff
from sandbox.server import SandboxServer

ORG_KEY = "test-org-key-5f1c"
BACKOFF_BASE = 0.1
BACKOFF_CAP = 1.0
MAX_RETRIES = 3


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(org_key=ORG_KEY, seed=7) as server:
        yield server


@pytest.fixture
def control(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The sandbox's control API, to inject faults and inspect its state."""
    with httpx.Client(base_url=f"{sandbox.url}/_sandbox", timeout=5) as client:
        yield client


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(
    sandbox: SandboxServer, sleeps: list[float]
) -> Iterator[Callable[..., OrgClient]]:
    clients: list[OrgClient] = []

    def make(**overrides: object) -> OrgClient:
        options: dict = {
            "base_url": sandbox.url,
            "api_key": ORG_KEY,
            "timeout": 5.0,
            "connect_timeout": 1.0,
            "max_retries": MAX_RETRIES,
            "backoff_base": BACKOFF_BASE,
            "backoff_cap": BACKOFF_CAP,
            "sleep": sleeps.append,
            **overrides,
        }
        client = OrgClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., OrgClient]) -> OrgClient:
    return make_client()


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float]
) -> OrgClient:
    return OrgClient(
        base_url="http://upstream.test",
        api_key=ORG_KEY,
        timeout=1.0,
        connect_timeout=1.0,
        max_retries=MAX_RETRIES,
        backoff_base=BACKOFF_BASE,
        backoff_cap=BACKOFF_CAP,
        sleep=sleeps.append,
        transport=httpx.MockTransport(handler),
    )


def calls(operation: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "orgportal_upstream_calls_total",
        {"upstream": "org", "operation": operation, "outcome": outcome},
    )
    return value or 0.0


def member_count(control: httpx.Client) -> int:
    return control.get("/state").json()["member_count"]


# --- the happy path -----------------------------------------------------------------


def test_a_member_lifecycle_through_the_client(client, sleeps):
    # given
    uid = "team:alice smith?#%"

    # when
    plans = client.plans()
    created = client.member_create(uid=uid, plan="pro", full_name="Alice")
    listed = client.members_list(page=1, limit=10)
    got = client.member_get(uid=uid)
    updated = client.member_update(uid=uid, plan="ultra", full_name="Alice S.")
    cancelled = client.member_cancel(uid=uid)
    client.member_delete(uid=uid)

    # then
    assert [p["name"] for p in plans["regular_plans"]] == ["pro", "ultra", "mega"]
    assert created["uid"] == uid and created["plan"] == "pro"
    assert [m["uid"] for m in listed["members"]] == [uid]
    assert got == created
    assert (updated["plan"], updated["full_name"]) == ("ultra", "Alice S.")
    assert cancelled["status"] == "cancelled"
    with pytest.raises(UpstreamNotFound):
        client.member_get(uid=uid)
    assert sleeps == []


def test_members_iter_walks_every_page(client):
    # given
    uids = [f"user-{n:02d}" for n in range(23)]
    for uid in uids:
        client.member_create(uid=uid, plan="pro")

    # when
    seen = [member["uid"] for member in client.members_iter(page_size=10)]

    # then
    assert sorted(seen) == uids
    assert len(seen) == 23


def test_members_iter_with_no_members_yields_nothing(client):
    # when
    seen = list(client.members_iter())

    # then
    assert seen == []


def test_defaults_come_from_settings(sandbox, settings):
    # given
    settings.UPSTREAM_ORG_URL = sandbox.url
    settings.UPSTREAM_ORG_KEY = ORG_KEY

    # when
    with OrgClient() as client:
        plans = client.plans()

    # then
    assert plans["success"] is True


# --- definitive refusals ------------------------------------------------------------


def test_a_wrong_key_is_unauthorized_and_never_echoed(make_client, sleeps):
    # given
    client = make_client(api_key="not-the-key-8d2e")

    # when
    with pytest.raises(UpstreamUnauthorized) as caught:
        client.member_create(uid="alice", plan="pro")

    # then
    error = caught.value
    assert (error.status, error.code) == (401, "UNAUTHORIZED")
    assert "not-the-key-8d2e" not in f"{error} {error!r} {error.details}"
    assert "not-the-key-8d2e" not in repr(client)
    assert sleeps == []


def test_definitive_refusals_are_typed_and_not_retried(client, control, sleeps):
    # given
    client.member_create(uid="alice", plan="pro")
    client.member_create(uid="carol", plan="pro")
    client.member_cancel(uid="carol")

    # when
    refusals = {}
    attempts = {
        "duplicate": lambda: client.member_create(uid="alice", plan="pro"),
        "unknown plan": lambda: client.member_create(uid="bob", plan="gold"),
        "unknown member": lambda: client.member_get(uid="ghost"),
        "not active": lambda: client.member_cancel(uid="carol"),
        "no plan": lambda: client.member_update(uid="alice", plan=""),
    }
    for name, attempt in attempts.items():
        with pytest.raises(UpstreamRejected) as caught:
            attempt()
        refusals[name] = (type(caught.value), caught.value.status, caught.value.code)

    # then
    assert refusals == {
        "duplicate": (UpstreamConflict, 409, "MEMBER_EXISTS"),
        "unknown plan": (UpstreamInvalid, 400, "INVALID_PLAN"),
        "unknown member": (UpstreamNotFound, 404, "MEMBER_NOT_FOUND"),
        "not active": (UpstreamConflict, 409, "MEMBER_NOT_ACTIVE"),
        "no plan": (UpstreamInvalid, 400, "INVALID_REQUEST"),
    }
    assert sleeps == []


def test_insufficient_credits_is_typed(client, control):
    # given
    control.post("/credits", json={"credits": "-999990.00"})

    # when
    with pytest.raises(UpstreamInsufficientCredits) as caught:
        client.member_create(uid="alice", plan="pro")

    # then
    assert caught.value.details == {"required": "15.00", "balance": "10.00"}
    assert member_count(control) == 0


def test_the_uid_is_percent_encoded_in_the_path(sleeps):
    # given
    paths = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"success": True, "member": {"uid": "x"}})

    client = mock_client(handler, sleeps)

    # when
    client.member_get(uid="a:b c?#%")
    client.member_update(uid="a;b", plan="pro")

    # then
    assert paths == [
        "/api/organization/members/a%3Ab%20c%3F%23%25",
        "/api/organization/members/a%3Bb/update",
    ]


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


def test_an_unreachable_upstream_is_retried_even_for_mutations(make_client, sleeps):
    # given: a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}")

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


# --- answers only a real upstream gives ---------------------------------------------


def test_a_dropped_connection_on_a_mutation_is_an_unknown_outcome(sleeps):
    # given
    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamOutcomeUnknown):
        client.member_cancel(uid="alice")

    # then
    assert len(requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (500, {}, {"success": False, "error": "boom", "code": "INTERNAL"}),
        (502, {}, {"success": False, "error": "bad gateway", "code": "BAD_GATEWAY"}),
        (503, {}, {"success": False, "error": "busy", "code": "OVERLOADED"}),
    ],
    ids=["500", "502", "503-unexplained"],
)
def test_other_5xx_on_a_mutation_is_an_unknown_outcome(sleeps, status, headers, body):
    # given
    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json=body, headers=headers)

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamOutcomeUnknown) as caught:
        client.member_update(uid="alice", plan="ultra")

    # then
    assert (caught.value.status, caught.value.code) == (status, body["code"])
    assert len(requests) == 1


def test_5xx_on_a_read_is_retried(sleeps):
    # given
    statuses = iter([500, 502, 504])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses, 200)
        return httpx.Response(status, json={"success": status == 200, "member": {}})

    client = mock_client(handler, sleeps)

    # when
    client.member_get(uid="alice")

    # then
    assert len(sleeps) == 3


def test_429_on_a_mutation_is_retried_after_what_it_asks(sleeps):
    # given
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0.3"}, json={"error": "slow"}),
            httpx.Response(200, json={"success": True, "member": {"uid": "alice"}}),
        ]
    )
    client = mock_client(lambda request: next(answers), sleeps)

    # when
    member = client.member_create(uid="alice", plan="pro")

    # then
    assert member == {"uid": "alice"}
    assert sleeps == [0.3]


def test_a_non_json_error_still_yields_a_typed_error(sleeps):
    # given
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            text="Bad request: plan missing",
            headers={"Content-Type": "text/plain"},
        )

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamInvalid) as caught:
        client.member_create(uid="alice", plan="pro")

    # then
    assert caught.value.status == 400
    assert caught.value.code is None
    assert "non-JSON" in caught.value.message
    assert "Bad request: plan missing" in caught.value.message


def test_a_non_json_gateway_page_on_a_read_ends_unavailable(sleeps):
    # given: a proxy's HTML page that even echoes the request headers
    def handler(request: httpx.Request) -> httpx.Response:
        page = f"<html>502 Bad Gateway {request.headers['Authorization']}</html>"
        return httpx.Response(502, text=page, headers={"Content-Type": "text/html"})

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamUnavailable) as caught:
        client.members_list()

    # then
    assert caught.value.status == 502
    assert "502 Bad Gateway" in caught.value.message
    assert ORG_KEY not in caught.value.message
    assert len(sleeps) == MAX_RETRIES


def test_json_is_parsed_only_when_declared(sleeps):
    # given
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"success": True, "member": {"uid": "alice"}})
        return httpx.Response(200, text=body, headers={"Content-Type": "text/plain"})

    client = mock_client(handler, sleeps)

    # when
    with pytest.raises(UpstreamOutcomeUnknown):
        client.member_create(uid="alice", plan="pro")
    with pytest.raises(UpstreamError) as read_error:
        client.member_get(uid="alice")

    # then
    assert not isinstance(read_error.value, UpstreamOutcomeUnknown)
    assert sleeps == []
