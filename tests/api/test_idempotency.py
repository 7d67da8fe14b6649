"""Idempotency keys survive a crash at any point: never stuck, never a second charge, and
a retry learns what the first request did, gateway key included."""

import datetime as dt
import json

import pytest

from billing.ledgercheck import ledger_violations
from billing.models import LedgerTransaction
from members.crypto import decrypt, sha256_hex
from members.errors import Conflict
from members.models import GatewayKey, IdempotencyRecord, Operation
from members.services import idempotency, operations
from members.services.operations import actions, execute
from members.upstream import shared_client
from orgportal.upstream_http import call_deadline_s
from tests import rest

pytestmark = pytest.mark.django_db
CREATE = {"uid": "m1", "plan": "pro"}


class Killed(BaseException):
    """What kill -9 looks like from inside: nothing after it runs."""


def post(api, path, body, key):
    return rest.post(api, path, body, **{"Idempotency-Key": key})


def create_died_after_recording(api, monkeypatch, *, apply_upstream: bool) -> None:
    """A create with key "k1" whose web process died once the operation was recorded:
    before its upstream call, or just after upstream applied it."""
    real_call = execute.upstream_call

    def dying(op, client):
        if apply_upstream:
            real_call(op, client or shared_client())
        raise Killed

    monkeypatch.setattr(
        actions, "operation_execute", lambda op, client: dying(op, client)
    )
    with pytest.raises(Killed):
        post(api, "/members/create", CREATE, "k1")
    monkeypatch.undo()


def charges(kind="member_create") -> int:
    return LedgerTransaction.objects.filter(kind=kind).count()


def test_a_replayed_create_returns_the_whole_response_stored_encrypted(api, funded):
    first = post(api, "/members/create", CREATE, "k1")
    again = post(api, "/members/create", CREATE, "k1")
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    key = first.json()["member"]["api_key"]
    # the client that lost the first answer still learns the full gateway key
    assert again.json() == first.json()
    assert GatewayKey.objects.filter(key_hash=sha256_hex(key)).exists()
    record = IdempotencyRecord.objects.get(key="k1")
    assert key not in record.response_encrypted
    assert charges() == 1


def test_a_key_whose_request_died_before_recording_is_free_after_the_lease(
    api, funded, frozen, settings
):
    # given: a request that claimed its key and died before doing anything
    claim = claimed_and_died("k1", "/members/create", CREATE)
    # when: the client retries at once, then after the lease
    early = post(api, "/members/create", CREATE, "k1")
    frozen.advance(dt.timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS))
    late = post(api, "/members/create", CREATE, "k1")
    # then: in progress for at most the lease, then the request runs, once
    assert early.status_code == 409
    assert early.json()["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert early.json()["details"]["retry_after_seconds"] == 30
    assert late.status_code == 200 and charges() == 1
    # and the dead request, were it to wake up, can no longer change anything
    with idempotency.idempotency_scope(claim), pytest.raises(Conflict):
        operations.member_create(uid="m2", plan="pro", actor="tests")
    assert not Operation.objects.filter(member_uid="m2").exists()


def test_a_key_bound_to_an_operation_upstream_applied_answers_its_outcome(
    api, funded, frozen, sandbox, monkeypatch
):
    # given: the web process died right after upstream created the member
    create_died_after_recording(api, monkeypatch, apply_upstream=True)
    record = IdempotencyRecord.objects.get(key="k1")
    assert record.operation is not None  # bound in the same transaction
    # when: the client retries while the call could still be running, then after
    pending = post(api, "/members/create", CREATE, "k1")
    frozen.advance(dt.timedelta(seconds=call_deadline_s() + 1))
    settled = post(api, "/members/create", CREATE, "k1")
    again = post(api, "/members/create", CREATE, "k1")
    # then: 202 with the operation, then the member with its full key, charged once
    assert pending.status_code == 202
    assert pending.json()["operation"]["status"] == "pending"
    assert settled.status_code == 200
    key = settled.json()["member"]["api_key"]
    assert GatewayKey.objects.filter(key_hash=sha256_hex(key), revoked_at=None).exists()
    assert again.json()["member"]["api_key"] == key
    assert key not in IdempotencyRecord.objects.get(key="k1").issued_key_encrypted
    assert charges() == 1 and len(sandbox.state.members) == 1
    assert ledger_violations() == []


def test_a_key_bound_to_an_operation_never_sent_runs_again_once_decided(
    api, funded, frozen, sandbox, monkeypatch
):
    # given: the web process died before upstream heard of the member
    create_died_after_recording(api, monkeypatch, apply_upstream=False)
    # when: the client retries after no call can still be running
    frozen.advance(dt.timedelta(seconds=call_deadline_s() + 1))
    retried = post(api, "/members/create", CREATE, "k1")
    # then: the first operation is failed (nothing charged) and the retry created it
    assert retried.status_code == 200
    assert list(Operation.objects.values_list("status", flat=True).order_by("id")) == [
        "failed",
        "succeeded",
    ]
    assert charges() == 1 and len(sandbox.state.members) == 1
    assert ledger_violations() == []


def test_a_key_reused_for_another_mutation_is_refused_and_holds_nothing(
    api, funded, sandbox
):
    # given: a create answered under key "k1"
    assert post(api, "/members/create", CREATE, "k1").status_code == 200
    # when: the same key comes with another member to create
    reused = post(api, "/members/create", {"uid": "m2", "plan": "pro"}, "k1")
    # then: refused as a conflict; the operation its recording began rolled back
    assert reused.status_code == 409
    assert reused.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert not Operation.objects.filter(member_uid="m2").exists()
    assert "m2" not in sandbox.state.members
    from billing.models import Account

    assert Account.objects.get(code="wallet").held == 0
    assert charges() == 1 and ledger_violations() == []


def test_a_refusal_before_recording_is_stored_under_its_key(api, funded):
    # given: a change of a member that does not exist, refused under key "k9"
    first = post(api, "/members/m1/update", {"plan": "ultra"}, "k9")
    assert first.status_code == 404
    # when: the member is created and the client retries the same request
    assert post(api, "/members/create", CREATE, "k1").status_code == 200
    again = post(api, "/members/m1/update", {"plan": "ultra"}, "k9")
    # then: the stored refusal answers it; nothing was changed
    assert again.status_code == 404
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert charges("member_change") == 0


def test_a_mutation_stores_its_answer_in_the_settle(api, funded):
    answer = post(api, "/members/create", CREATE, "k1")
    record = IdempotencyRecord.objects.get(key="k1")
    # the key was bound to the operation and answered, with no claim of its own left
    assert record.status == IdempotencyRecord.Status.DONE
    assert record.operation.status == Operation.Status.SUCCEEDED
    assert record.lease_until is None and record.response_status == 200
    assert json.loads(decrypt(record.response_encrypted)) == answer.json()


def test_a_local_change_and_its_stored_answer_commit_together(api, funded, frozen):
    # given: a purchase whose request lost its claim to a retry after the lease
    claim = claimed_and_died("buy", "/credits/purchase", {"credits": 10})
    frozen.advance(idempotency.lease())
    retry = post(api, "/credits/purchase", {"credits": 10}, "buy")
    # when: the first request finishes late
    from django.db import transaction

    from billing.services import ledger

    with pytest.raises(Conflict), transaction.atomic():
        ledger.credits_purchase(credits=10, actor="tests")
        idempotency.idempotency_finish(claim, status=200, body={"late": True})
    # then: only the retry bought anything
    assert retry.status_code == 200
    assert charges("purchase") == 2  # the fixture's purchase and the retry's


def test_expired_records_are_dropped_with_their_responses(api, funded, frozen):
    post(api, "/credits/purchase", {"credits": 5}, "old")
    frozen.advance(dt.timedelta(hours=25))
    post(api, "/credits/purchase", {"credits": 5}, "new")
    assert idempotency.idempotency_records_clean() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def claimed_and_died(key: str, path: str, body: dict) -> idempotency.Claim:
    """A request of the test's token that claimed `key` and went no further."""
    from members.models import ServiceToken

    claim, _ = idempotency.idempotency_claim(
        scope=f"token:{ServiceToken.objects.get().pk}",
        key=key,
        method="POST",
        path=rest.BASE + path,
        body=json.dumps(body).encode(),
    )
    return claim
