"""kill -9 of the web process in the middle of a burst of idempotent requests, with
upstream applying some changes and then hanging: after a restart, every key answers with
what its request did, within the stated lease, and no retry charges twice."""

import concurrent.futures
import time

import httpx
import pytest
from django.db import connection

from billing.ledgercheck import ledger_violations
from billing.models import LedgerTransaction
from billing.services import ledger
from members.crypto import sha256_hex
from members.models import GatewayKey, Member, Operation
from members.services.plans import plans_sync
from tests import webproc
from tests.marketdata.conftest import free_port
from tests.webproc import Web

LEASE_S = 4
UPSTREAM_TIMEOUT_S = 3
CLIENTS = 24
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


@pytest.fixture
def web_env(sandbox, service_token, settings):
    return webproc.web_env(
        sandbox,
        settings,
        UPSTREAM_TIMEOUT=str(UPSTREAM_TIMEOUT_S),
        UPSTREAM_CONNECT_TIMEOUT="1",
        UPSTREAM_MAX_RETRIES="0",
        UPSTREAM_BACKOFF_CAP="0.1",
        IDEMPOTENCY_LEASE_SECONDS=str(LEASE_S),
    )


def send(url: str, token: str, i: int) -> httpx.Response | None:
    """Client i's request: a member create for most, a credit purchase for every
    fourth; the same key and body on every retry."""
    path, body = (
        ("/api/organization/credits/purchase", {"credits": 3})
        if i % 4 == 3
        else ("/api/organization/members/create", {"uid": f"m{i}", "plan": "pro"})
    )
    try:
        return httpx.post(
            url + path,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k{i}"},
            timeout=20,
        )
    except httpx.HTTPError:  # the process died under it
        return None


def test_kill_9_mid_burst_loses_no_key_and_charges_nothing_twice(
    sandbox, service_token, web_env
):
    # given: credits, and upstream applying half the changes and then hanging
    plans_sync()
    ledger.credits_purchase(credits=1000, actor="tests")
    sandbox.state.faults_set(timeout_rate=0.5, hang_seconds=60, scope="mutations")
    web = Web(web_env, free_port())
    try:
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            first = [
                pool.submit(send, web.url, service_token, i) for i in range(CLIENTS)
            ]
            # when: the process is killed once some requests were answered and
            # others wait on upstream (sync views share one thread: they queue)
            deadline = time.monotonic() + 30
            while sum(f.done() for f in first) < CLIENTS // 4:
                assert time.monotonic() < deadline, "no request was answered"
                time.sleep(0.05)
            web.kill()
            answered = [f.result() for f in first]
    finally:
        web.stop()
    assert None in answered, "no request was in flight at the kill"
    in_flight_at_kill = list(
        Operation.objects.filter(status__in=Operation.IN_FLIGHT).values_list(
            "pk", flat=True
        )
    )
    assert in_flight_at_kill, "no operation was waiting on upstream at the kill"
    assert any(a is not None and a.status_code == 200 for a in answered), [
        (a.status_code, a.text[:200]) for a in answered if a is not None
    ]
    # then: a new process answers every key, never "in progress" past the lease
    sandbox.state.faults_set(timeout_rate=0.0)
    restarted_at = time.monotonic()
    web = Web(web_env, free_port())
    finals: dict[int, httpx.Response] = {}
    try:
        deadline = time.monotonic() + LEASE_S + UPSTREAM_TIMEOUT_S + 60
        while len(finals) < CLIENTS and time.monotonic() < deadline:
            for i in set(range(CLIENTS)) - set(finals):
                r = send(web.url, service_token, i)
                assert r is not None
                if r.status_code == 409:
                    assert r.json()["code"] == "IDEMPOTENCY_IN_PROGRESS"
                    assert time.monotonic() - restarted_at < LEASE_S + 2
                elif r.status_code == 200:
                    finals[i] = r
                else:
                    assert r.status_code == 202, r.text
            time.sleep(0.5)
    finally:
        web.stop()
    assert len(finals) == CLIENTS, (
        f"keys never settled: {set(range(CLIENTS)) - set(finals)}"
    )
    # every member was charged once, exists upstream, and its full key works
    creates = [i for i in range(CLIENTS) if i % 4 != 3]
    for i in creates:
        member = Member.objects.get(uid=f"m{i}")
        assert (
            LedgerTransaction.objects.filter(
                kind="member_create", member=member
            ).count()
            == 1
        )
        key = finals[i].json()["member"]["api_key"]
        assert GatewayKey.objects.filter(
            key_hash=sha256_hex(key), member=member, revoked_at=None
        ).exists()
        upstream = sandbox.state.members[f"m{i}"]
        assert upstream.plan.name == member.plan.name
        assert upstream.status == member.status
    assert len(sandbox.state.members) == len(creates)
    purchases = CLIENTS - len(creates)
    # the purchase above, and one per purchasing client
    assert LedgerTransaction.objects.filter(kind="purchase").count() == 1 + purchases
    assert not Operation.objects.filter(status__in=Operation.IN_FLIGHT).exists()
    assert Operation.objects.filter(pk__in=in_flight_at_kill, status="succeeded")
    assert ledger_violations() == []
