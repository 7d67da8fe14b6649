"""Member uids that would not survive a URL path: refused at creation, never sent in a
path, never "cancelled" on a read-back 404, and reported by reconcile."""

import dataclasses

import pytest

from billing.ledgercheck import ledger_violations
from billing.models import LedgerTransaction
from members.errors import ServiceError
from members.models import Member
from members.services import operations
from members.uids import uid_problem
from members.upstream import OrgClient, UpstreamInvalid
from renewals.services.reconcile import reconcile_run
from tests.rest import BASE, post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("uid", [".", "..", "a/b", "../x", "a\\b", "a\x7fb", "a\x01"])
def test_a_uid_that_is_not_one_path_segment_is_refused_naming_the_rule(
    api, funded, uid
):
    r = post(api, "/members/create", {"uid": uid, "plan": "pro"})
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert "not '.' or '..', without '/'" in r.json()["error"]
    assert not Member.objects.exists()
    assert not LedgerTransaction.objects.filter(kind="member_create").exists()


@pytest.mark.parametrize(
    "uid", ["john_doe", "a.b", "...", "a b", "é", "a%2Fb", "a?b#c"]
)
def test_other_uids_round_trip_through_both_apis(api, funded, sandbox, uid):
    assert uid_problem(uid) is None
    created = operations.member_create(uid=uid, plan="pro", actor="tests")
    assert created.settled and uid in sandbox.state.members
    # the member is reachable through our own path, percent-encoded
    from urllib.parse import quote

    r = api.get(f"{BASE}/members/{quote(uid, safe='')}")
    assert r.status_code == 200 and r.json()["member"]["uid"] == uid
    cancelled = operations.member_cancel(uid=uid, actor="tests")
    assert cancelled.settled
    assert sandbox.state.members[uid].status == "cancelled"


def test_the_upstream_client_never_sends_a_dot_segment(sandbox):
    client = OrgClient()
    for uid in ("..", ".", "a/b"):
        with pytest.raises(UpstreamInvalid) as refused:
            client.member_cancel(uid=uid)
        assert refused.value.code == "UID_NOT_ADDRESSABLE"


@pytest.fixture
def legacy_dotdot(funded, sandbox):
    """A member created before the uid rule, with uid '..' here and upstream."""
    operations.member_create(uid="legacy", plan="pro", actor="tests")
    Member.objects.filter(uid="legacy").update(uid="..")
    with sandbox.state._lock:
        member = sandbox.state.members.pop("legacy")
        sandbox.state.members[".."] = dataclasses.replace(member, uid="..")
    return Member.objects.get(uid="..")


def test_a_legacy_dot_segment_member_cannot_be_cancelled_here_only(
    legacy_dotdot, sandbox
):
    wallet_before = _wallet()
    with pytest.raises(ServiceError) as refused:
        operations.member_cancel(uid="..", actor="tests")
    assert refused.value.code == "UID_NOT_ADDRESSABLE"
    assert _wallet() == wallet_before
    assert Member.objects.get(uid="..").status == "active"
    assert sandbox.state.members[".."].status == "active"


def test_reconcile_reports_a_member_no_path_can_reach(legacy_dotdot):
    run = reconcile_run()
    items = [i for i in run.reported if i["uid"] == ".." and i["field"] == "uid"]
    assert len(items) == 1
    assert "dot segment" in items[0]["why"]


def test_a_read_back_404_never_counts_as_a_cancel(funded, sandbox):
    # given: a member that upstream lost behind our back
    operations.member_create(uid="m1", plan="pro", actor="tests")
    with sandbox.state._lock:
        del sandbox.state.members["m1"]
    wallet_before = _wallet()
    # when
    with pytest.raises(ServiceError) as refused:
        operations.member_cancel(uid="m1", actor="tests")
    # then: nothing credited, the member still active here for a person to look at
    assert refused.value.code == "MEMBER_NOT_FOUND_UPSTREAM"
    assert refused.value.status == 404
    assert _wallet() == wallet_before
    assert Member.objects.get(uid="m1").status == "active"
    assert ledger_violations() == []


def _wallet() -> int:
    from billing.services import ledger

    return ledger.account_system(ledger.WALLET).balance
