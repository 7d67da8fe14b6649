"""The scheduler at scale: one pass over N due items, serially and fanned out over workers.

Builds M members (default 100,000) on PostgreSQL, none due, then for each way of running
a pass makes N other members due (default 10,000; split evenly: a renewal reminder, an
auto-renewal that calls the sandbox upstream, an expiry) and runs one scheduler pass
over them. Side by side:

  serial     renewals_run in this process, one item after another: the baseline (how
             every pass ran before passes fanned out)
  K workers  the beat task (members.tasks.renewals_run) published once to K real
             `celery -A orgportal worker --pool=solo` processes on Redis as broker; the
             pass plans, fans its chunks out, and the workers share them. Timed from
             publishing until every due item of the round is done.

For each it prints the due scan (the three queries, median of 5, with PostgreSQL's plan),
the pass time and the wall time per item.

    python bench/renewals.py [--members 100000] [--due 10000] [--workers 1,2]
                             [--latency-ms 0]

`--latency-ms` adds that much to every upstream call during the passes (the sandbox's
fault setting), as a remote upstream's round trip would. The workers' logs of the last
pass, with each chunk's report, are .run/bench/renewals-w<n>.log.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/orgportal_bench_renewals;
the database is dropped and created) and Redis (REDIS_URL, else a redis-server of its own
on loopback; the broker only, on a queue of this run's own). Starts the sandbox and the
workers as processes of their own on loopback.
"""

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
import uuid

import httpx
from _common import (
    LOCAL,
    PY,
    ROOT,
    Processes,
    free_port,
    migrate,
    sandbox_env,
    stop_processes,
)

# after _common, which puts the project's root on the path
from launcher.common import solo_worker_command

ORG_KEY = "bench-org-key"
PLANS = ("pro", "ultra", "mega")
# The broker for the workers, read before the start-up takes REDIS_URL out of the
# environment (this process and the workers use Redis as the broker only); without it,
# a redis-server of the run's own.
BROKER_URL = os.environ.get("REDIS_URL", "")
LOGS = ROOT / ".run" / "bench"


def build_members(n: int, at: dt.datetime) -> None:
    """N active auto-renewing members, none due: 20 days left, first reminder in 13."""
    from members.crypto import encrypt
    from members.models import Member, Plan

    plans = {p.name: p for p in Plan.objects.filter(name__in=PLANS)}
    key = encrypt("bench-upstream-key")
    end = at + dt.timedelta(days=20)
    batch = []
    for i in range(n):
        plan = plans[PLANS[i % 3]]
        batch.append(
            Member(
                uid=f"b{i:07d}",
                full_name=f"Bench member {i}",
                plan=plan,
                status=Member.Status.ACTIVE,
                term_start=end - dt.timedelta(days=30),
                term_end=end,
                upstream_created_at=end - dt.timedelta(days=30),
                rate_limit=plan.rate_limit,
                quota=plan.quota,
                websocket_symbols=plan.websocket_symbols,
                websocket_connections=plan.websocket_connections,
                newsfeed=True,
                upstream_key_encrypted=key,
                auto_renew=True,
                next_reminder_at=end - dt.timedelta(days=7),
                created_at=at,
                updated_at=at,
            )
        )
        if len(batch) == 5_000:
            Member.objects.bulk_create(batch)
            batch = []
    if batch:
        Member.objects.bulk_create(batch)


def make_due(ids: list[int], at: dt.datetime, upstream: httpx.Client) -> dict:
    """Split `ids` in three: reminder due, renewal due (exists upstream), expired."""
    from members.models import Member

    third = len(ids) // 3
    remind, renew, expire = ids[:third], ids[third : 2 * third], ids[2 * third :]
    Member.objects.filter(pk__in=remind).update(
        term_end=at + dt.timedelta(days=6, hours=12),
        next_reminder_at=at - dt.timedelta(minutes=1),
    )
    Member.objects.filter(pk__in=renew).update(
        term_end=at + dt.timedelta(hours=12), next_reminder_at=None
    )
    Member.objects.filter(pk__in=expire).update(
        term_end=at - dt.timedelta(hours=1), next_reminder_at=None, auto_renew=False
    )
    for uid, plan in Member.objects.filter(pk__in=renew).values_list(
        "uid", "plan__name"
    ):
        upstream.post(
            "/api/organization/members/create", json={"uid": uid, "plan": plan}
        ).raise_for_status()
    return {"reminders": len(remind), "renewals": len(renew), "expiries": len(expire)}


def scan_times(at: dt.datetime, lead: dt.timedelta) -> tuple[float, dict]:
    from django.db import connection

    from renewals.services import term_actions as renewals

    queries = {
        "reminders": lambda: renewals.reminders_due_ids(at=at),
        "renewals": lambda: renewals.renewals_due_ids(at=at, lead=lead),
        "expiries": lambda: renewals.expiries_due_ids(at=at),
    }
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for q in queries.values():
            q()
        samples.append(time.perf_counter() - start)
    plans = {}
    from members.models import Member

    querysets = {
        "reminders": Member.objects.filter(
            next_reminder_at__lte=at, status="active"
        ).order_by("next_reminder_at", "id"),
        "renewals": Member.objects.filter(
            status="active",
            term_end__gt=at,
            term_end__lte=at + lead,
            auto_renew=True,
        ).order_by("term_end", "id"),
        "expiries": Member.objects.filter(status="active", term_end__lte=at).order_by(
            "term_end", "id"
        ),
    }
    for name, qs in querysets.items():
        sql, params = qs.values_list("id").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}", params)
            lines = [row[0] for row in cursor.fetchall()]
        scan = next(
            (line.strip().lstrip("-> ") for line in lines if "Scan" in line), lines[0]
        )
        plans[name] = scan.split("  (")[0]
    return statistics.median(samples) * 1000, plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000, help="due items per pass")
    parser.add_argument(
        "--workers", default="1,2", help="worker processes per pass, comma separated"
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="added to each upstream call during the passes, as a remote upstream would",
    )
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    if args.due * (1 + len(workers)) > args.members:
        sys.exit("each pass takes --due members of its own: --members is too small")

    port = free_port()
    env = sandbox_env("orgportal_bench_renewals", f"http://{LOCAL}:{port}", ORG_KEY)
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    migrate(env)
    with Processes() as procs:
        procs.sandbox(port, env)
        broker = BROKER_URL or procs.redis()
        if not broker:
            sys.exit("the workers need Redis: set REDIS_URL or install redis-server")
        run(args.members, args.due, workers, port, args.latency_ms, broker)


def start_worker(name: str) -> subprocess.Popen:
    """A worker process as deployed (solo pool), on this run's queue, answering pings."""
    from orgportal.celery import app

    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"renewals-{name}.log", "wb") as log:
        proc = subprocess.Popen(
            solo_worker_command(
                PY, f"--hostname={name}@bench", f"--queues={os.environ['CELERY_QUEUE']}"
            ),
            cwd=ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[f"{name}@bench"], timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"worker {name} did not start: see {LOGS}/renewals-{name}.log")
    return proc


def items_done(since: dt.datetime, items: int, stall_s: float = 60) -> int:
    """Wait until `items` actions claimed since `since` are done (each due item ends in
    one); give up when none finishes for `stall_s`. How many are done."""
    from renewals.models import TermAction

    done, last, moved = 0, -1, time.monotonic()
    while done < items:
        done = TermAction.objects.filter(created_at__gte=since, status="done").count()
        if done != last:
            last, moved = done, time.monotonic()
        elif time.monotonic() - moved > stall_s:
            print(f"    stalled at {done:,} of {items:,} done", flush=True)
            break
        time.sleep(0.1)
    return done


def serial_pass(at: dt.datetime) -> tuple[float, int]:
    from renewals.services import run as renewals

    start = time.perf_counter()
    report = renewals.renewals_run(at=at)
    return (
        time.perf_counter() - start,
        report.reminded + report.renewed + report.expired,
    )


def fanned_pass(workers: int, items: int) -> tuple[float, int]:
    """The beat task published once; timed until the workers finished its items."""
    from renewals.tasks import renewals_run

    procs = [start_worker(f"w{n}") for n in range(workers)]
    try:
        since = dt.datetime.now(dt.UTC)
        start = time.perf_counter()
        renewals_run.delay()
        done = items_done(since, items)
        return time.perf_counter() - start, done
    finally:
        stop_processes(procs)


def run(
    members: int,
    due: int,
    worker_counts: list[int],
    port: int,
    latency_ms: int,
    broker: str,
) -> None:
    os.environ["CELERY_BROKER_URL"] = broker
    os.environ["CELERY_QUEUE"] = f"bench-renewals-{uuid.uuid4().hex[:8]}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")
    import django

    django.setup()
    from billing.services import ledger
    from members.models import Member
    from members.selectors import org_settings
    from members.services.plans import plans_sync
    from orgportal.celery import app

    plans_sync()
    ledger.ledger_adjust(amount=500_000_00, reason="bench funds", actor="bench")
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lead = dt.timedelta(hours=org_settings().renew_lead_hours)
    print(f"Creating {members:,} members (none due) …", flush=True)
    start = time.perf_counter()
    build_members(members, at)
    print(f"  {time.perf_counter() - start:.1f} s", flush=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    ids = list(Member.objects.order_by("id").values_list("id", flat=True))
    rows = []
    upstream = httpx.Client(
        base_url=f"http://{LOCAL}:{port}",
        headers={"Authorization": f"Bearer {ORG_KEY}"},
        timeout=30,
    )
    passes = [("serial", 0)] + [
        (f"{k} worker{'s' if k > 1 else ''}", k) for k in worker_counts
    ]
    try:
        for n, (name, workers) in enumerate(passes):
            split = make_due(ids[n * due : (n + 1) * due], at, upstream)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE members_member")
            scan_ms, plans = scan_times(at, lead)
            upstream.post(
                "/_sandbox/faults", json={"latency_ms": latency_ms}
            ).raise_for_status()
            if workers:
                elapsed, done = fanned_pass(workers, due)
            else:
                elapsed, done = serial_pass(at)
            upstream.post("/_sandbox/faults", json={"latency_ms": 0})
            rows.append((name, split, scan_ms, elapsed, done, plans))
            print(
                f"  {name}: scan {scan_ms:.1f} ms, processed {done:,} in "
                f"{elapsed:.1f} s",
                flush=True,
            )
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(os.environ["CELERY_QUEUE"])

    print()
    print(
        f"One scheduler pass over {due:,} due items of {members:,} members "
        f"(PostgreSQL, sandbox upstream + {latency_ms} ms a call, Redis broker)"
    )
    print(
        f"{'pass':>10} {'reminders':>10} {'renewals':>9} {'expiries':>9} "
        f"{'scan ms':>8} {'done':>7} {'pass s':>8} {'ms/item':>8} {'speed-up':>9}"
    )
    baseline = None
    for name, split, scan_ms, elapsed, done, _ in rows:
        per_item = elapsed * 1000 / done if done else None
        baseline = baseline or per_item
        print(
            f"{name:>10} {split['reminders']:>10,} {split['renewals']:>9,} "
            f"{split['expiries']:>9,} {scan_ms:>8.1f} {done:>7,} {elapsed:>8.2f} "
            + (
                f"{per_item:>8.1f} {baseline / per_item:>8.2f}x"
                if per_item
                else f"{'-':>8} {'-':>9}"
            )
        )
    print()
    print("Plans chosen for the due scans (last pass):")
    for name, plan in rows[-1][5].items():
        print(f"  {name:<10} {plan}")


if __name__ == "__main__":
    main()
