"""The Organization API client against a real sandbox: the happy path and definitive refusals,
typed and never retried."""

import httpx
import pytest

from members.upstream import (
    OrgClient,
    UpstreamConflict,
    UpstreamInsufficientCredits,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamUnauthorized,
)
from tests.members.upstream.helpers import (
    ORG_KEY,
    member_count,
    mock_client,
)

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
