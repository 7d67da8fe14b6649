"""The scheduler at scale: due scan and processing time grow with due work, not members.

Builds N members (default 100,000) on PostgreSQL, none due, then makes a share of them
due (split evenly: a renewal reminder, an auto-renewal that calls the sandbox upstream,
an expiry) and runs one scheduler pass. For each share (0%, 1%, 10% by default) it
prints, side by side:

  scan     the three due queries (reminders, renewals, expiries), median of 5, with the
           plan PostgreSQL chose for each
  process  one renewals_run over the due set: total seconds and per item

    python bench/renewals.py [--members 100000] [--shares 0,1,10]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/orgportal_bench_renewals;
the database is dropped and created). Starts the sandbox as its own process on loopback.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time

import httpx
from _common import LOCAL, ROOT, Processes, free_port, migrate, sandbox_env

ORG_KEY = "bench-org-key"
PLANS = ("pro", "ultra", "mega")


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
    parser.add_argument(
        "--shares", default="0,1,10", help="percent due, comma separated"
    )
    args = parser.parse_args()
    shares = [float(s) for s in args.shares.split(",")]
    if sum(shares) > 100:
        sys.exit(
            "the shares are taken from disjoint members: they must add up to ≤ 100"
        )

    port = free_port()
    env = sandbox_env("orgportal_bench_renewals", f"http://{LOCAL}:{port}", ORG_KEY)
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    migrate(env)
    with Processes() as procs:
        procs.sandbox(port, env)
        run(args.members, shares, port)


def run(members: int, shares: list[float], port: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")
    import django

    django.setup()
    from billing.services import ledger
    from members.models import Member
    from members.selectors import org_settings
    from members.services.plans import plans_sync
    from renewals.services import run as renewals

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
    offset = 0
    rows = []
    upstream = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {ORG_KEY}"},
        timeout=30,
    )
    for share in shares:
        count = int(members * share / 100)
        due_ids = ids[offset : offset + count]
        offset += count
        if count:
            make_due(due_ids, at, upstream)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE members_member")
        scan_ms, plans = scan_times(at, lead)
        start = time.perf_counter()
        report = renewals.renewals_run(at=at)
        elapsed = time.perf_counter() - start
        done = report.reminded + report.renewed + report.expired
        rows.append((share, count, scan_ms, elapsed, done, report, plans))
        print(
            f"  {share:g}% due: scan {scan_ms:.1f} ms, processed {done:,} in "
            f"{elapsed:.1f} s",
            flush=True,
        )

    print()
    print(f"Scheduler pass over {members:,} members (PostgreSQL, sandbox upstream)")
    print(
        f"{'due':>10} {'reminders':>10} {'renewals':>9} {'expiries':>9} "
        f"{'scan ms':>8} {'process s':>10} {'ms/item':>8}"
    )
    for share, count, scan_ms, elapsed, done, report, _ in rows:
        per_item = f"{elapsed * 1000 / done:.1f}" if done else "-"
        print(
            f"{f'{share:g}% ({count:,})':>10} {report.reminded:>10,} "
            f"{report.renewed:>9,} {report.expired:>9,} {scan_ms:>8.1f} "
            f"{elapsed:>10.2f} {per_item:>8}"
        )
    print()
    print("Plans chosen for the due scans (last run):")
    for name, plan in rows[-1][6].items():
        print(f"  {name:<10} {plan}")


if __name__ == "__main__":
    main()
