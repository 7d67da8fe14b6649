"""End to end through the real Redis broker and real Celery worker processes, on
PostgreSQL: tasks published here, consumed by `celery -A orgportal worker` in another
process that reaches the same test database, the sandbox and a webhook receiver."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from billing.ledgercheck import ledger_violations
from billing.services import ledger
from launcher.common import solo_worker_command
from members.models import Member, Operation
from members.selectors import org_settings
from members.services import operations
from members.services.plans import plans_sync
from notifications.models import Delivery, Notification
from notifications.services.endpoints import webhook_endpoint_create
from notifications.services.notify import notify
from orgportal.celery import app
from renewals.models import TermAction
from tests.conftest import ORG_KEY
from tests.notifications.webhook_receiver import Receiver

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"),
        reason="needs PostgreSQL and Redis (the real broker)",
    ),
]
ROOT = Path(__file__).resolve().parents[2]


def wait_until(check, *, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Workers:
    """Celery worker processes on a queue of their own."""

    def __init__(self, queue: str, env: dict, logs: Path):
        self.queue, self.env, self.logs = queue, env, logs
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(
            solo_worker_command(
                sys.executable, f"--hostname={name}@e2e", f"--queues={self.queue}"
            ),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        wait_until(
            lambda: (
                f"{name}@e2e"
                in (
                    app.control.inspect(timeout=0.5, destination=[f"{name}@e2e"]).ping()
                    or {}
                )
            ),
            timeout=60,
            what=f"worker {name} to answer",
        )
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def log_tail(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in self.logs.glob("*.log")
        )


@pytest.fixture
def workers(sandbox, tmp_path):
    db = connection.settings_dict
    queue = f"orgportal-e2e-{uuid.uuid4().hex[:8]}"
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            f"/{db['NAME']}"
        ),
        "CELERY_QUEUE": queue,
        "UPSTREAM_ORG_URL": sandbox.url,
        "UPSTREAM_ORG_KEY": ORG_KEY,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "UPSTREAM_TIMEOUT": "2",
        # a call's longest run (retries included) is short, so a renewal left in flight
        # by a killed worker may be resolved by another within the test's minute
        "UPSTREAM_CONNECT_TIMEOUT": "1",
        "UPSTREAM_MAX_RETRIES": "1",
        "UPSTREAM_BACKOFF_CAP": "0.5",
        "LOG_LEVEL": "INFO",
        # the test's webhook receiver is on loopback
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    }
    running = Workers(queue, env, tmp_path)
    yield running
    running.stop_all()
    app.conf.task_default_queue = previous_queue
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


def test_a_real_worker_delivers_a_signed_webhook(workers, settings):
    # given: a receiver on loopback, which only the development setting allows
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver().start()
    try:
        endpoint, secret = webhook_endpoint_create(url=receiver.url, actor="tests")
        receiver.secret = secret
        workers.start("w1")
        # when: the event commits; the delivery task goes through Redis to the worker
        with transaction.atomic():
            notify(
                event="org.low_balance",
                dedupe_key="e2e-1",
                data={"balance": "1.00", "shortfall": "9.00"},
            )
        # then
        wait_until(
            lambda: Delivery.objects.filter(status="delivered").count() == 1,
            what="the delivery",
        )
        assert receiver.count() == 1
        [got] = receiver.received
        assert got.verified
        assert got.json["type"] == "org.low_balance"
        assert got.headers["Orgportal-Delivery"] == str(Delivery.objects.get().pk)
    finally:
        receiver.stop()


def due_members(count: int) -> int:
    """`count` pro members whose auto-renewal is due now (lead longer than a term)."""
    plans_sync()
    ledger.credits_purchase(credits=200, actor="tests")
    for i in range(count):
        operations.member_create(uid=f"m{i}", plan="pro", actor="tests")
    row = org_settings()
    row.renew_lead_hours = 31 * 24
    row.save()
    return ledger.account_system(ledger.WALLET).balance


def test_beat_firing_twice_into_two_workers_renews_each_member_once(workers):
    # given
    before = due_members(5)
    from renewals.tasks import renewals_run

    workers.start("w1")
    workers.start("w2")
    # when: the run is published twice at once, and once more later
    renewals_run.delay()
    renewals_run.delay()
    wait_until(
        lambda: TermAction.objects.filter(kind="renew", status="done").count() == 5,
        what="five renewals",
    )
    renewals_run.delay()
    time.sleep(2)
    # then
    assert ledger.account_system(ledger.WALLET).balance == before - 5 * 1_500
    assert Operation.objects.filter(kind="renew").count() == 5
    assert Notification.objects.filter(event="member.renewed").count() == 5
    assert TermAction.objects.filter(status="claimed").count() == 0
    assert ledger_violations() == []


def test_a_worker_killed_mid_renewal_loses_nothing_and_charges_once(workers, sandbox):
    # given: upstream slow enough to kill the worker while it waits on a renewal
    before = due_members(3)
    from renewals.tasks import renewals_run

    first = workers.start("w1")
    sandbox.state.faults_set(latency_ms=1500)
    renewals_run.delay()
    wait_until(
        lambda: Operation.objects.filter(kind="renew").exists(),
        what="a renewal in flight",
    )
    # when: the worker dies mid-call; upstream recovers; a new worker takes over and
    # beat keeps firing
    workers.kill(first)
    sandbox.state.faults_set(latency_ms=0)
    workers.start("w2")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        renewals_run.delay()
        time.sleep(1.5)
        if TermAction.objects.filter(kind="renew", status="done").count() == 3:
            break
    # then: every member renewed, each charged once, here and upstream
    assert TermAction.objects.filter(kind="renew", status="done").count() == 3, (
        workers.log_tail()
    )
    assert ledger.account_system(ledger.WALLET).balance == before - 3 * 1_500
    assert Operation.objects.filter(kind="renew", status="succeeded").count() == 3
    for m in Member.objects.all():
        assert m.term_end == sandbox.state.members[m.uid].plan_end_at
    assert Notification.objects.filter(event="member.renewed").count() == 3
    assert ledger_violations() == []
