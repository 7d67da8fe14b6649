"""Portal page server time with a large organisation, beside a small one, on PostgreSQL.

Builds two databases by COPY, with the ledger's PostgreSQL triggers (migration 0002)
live: every transaction is balanced and account balances are kept by the trigger.

  small   1,000 members and 10,000 ledger entries
  large   100,000 members and 1,000,000 ledger entries (500,000 transactions)

Then, for each, renders the pages through Django's test Client (the whole middleware
stack, in process, no network) and prints the median server time of N requests per
page, side by side.

    python bench/portal_pages.py [--requests 15] [--reuse]

Needs PostgreSQL; DATABASE_URL names the server (default
postgres://postgres@127.0.0.1:5432/bench_portal); the databases bench_portal_small and
bench_portal_large are created on it (dropped first unless --reuse).
"""

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time

import psycopg
from _common import PY, ROOT, database_url, deployment_env, ledgercheck, migrate
from psycopg import sql

SIZES = {"small": (1_000, 10_000), "large": (100_000, 1_000_000)}
TXNS_PER_COMMIT = 2_000  # the balance trigger updates the wallet row once per entry
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PLANS = [("pro", 1500, "pro"), ("ultra", 2500, "ultra"), ("mega", 5000, "mega")]


# --- building a database ---------------------------------------------------------------


def load(url: str, members: int, entries: int) -> float:
    """Members, their accounts and a balanced ledger of `entries` entries."""
    started = time.perf_counter()
    txns = entries // 2
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            plan_ids = []
            for name, price, feature in PLANS:
                cur.execute(
                    "INSERT INTO members_plan (name, price, feature, is_custom, rate_limit,"
                    " quota, websocket_symbols, websocket_connections, newsfeed,"
                    " available, synced_at) VALUES (%s, %s, %s, false, 25, 50000, 2, 1,"
                    " true, true, %s) RETURNING id",
                    (name, price, feature, NOW),
                )
                plan_ids.append((cur.fetchone()[0], price))
            statuses = ["active"] * 16 + ["cancelled"] * 2 + ["expired", "deleted"]
            with cur.copy(
                "COPY members_member (id, uid, full_name, email, plan_id, status,"
                " term_start, term_end, upstream_created_at, rate_limit, quota,"
                " websocket_symbols, websocket_connections, newsfeed, quota_exceeded,"
                " upstream_key_encrypted, auto_renew, created_at, updated_at)"
                " FROM STDIN"
            ) as copy:
                for i in range(1, members + 1):
                    plan_id, _ = plan_ids[i % 3]
                    start = NOW - dt.timedelta(days=i % 30, seconds=i)
                    status = statuses[i % 20]
                    copy.write_row(
                        (
                            i,
                            f"member{i:06d}",
                            f"Member Number {i}",
                            f"member{i}@example.com",
                            plan_id,
                            status,
                            start,
                            start + dt.timedelta(days=30),
                            NOW - dt.timedelta(days=365, seconds=-i),
                            25,
                            50_000,
                            2,
                            1,
                            True,
                            i % 97 == 0,
                            "x",
                            i % 4 != 0,
                            NOW,
                            NOW,
                        )
                    )
            cur.execute(
                "INSERT INTO members_account (id, code, kind, member_id, balance) VALUES"
                " (1, 'wallet', 'wallet', NULL, 0),"
                " (2, 'external:purchases', 'purchases', NULL, 0)"
            )
            with cur.copy(
                "COPY members_account (id, code, kind, member_id, balance) FROM STDIN"
            ) as copy:
                for i in range(1, members + 1):
                    copy.write_row((i + 2, f"member:{i}", "member", i, 0))
        conn.commit()
        # The ledger: one purchase of 1,000 credits every 10 transactions, member
        # charges between them, oldest first across the last 365 days.
        span = dt.timedelta(days=365).total_seconds()
        entry_id = 0
        for first in range(1, txns + 1, TXNS_PER_COMMIT):
            last = min(txns, first + TXNS_PER_COMMIT - 1)
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY members_ledgertransaction (id, kind, memo, actor, member_id,"
                    " created_at) FROM STDIN"
                ) as copy:
                    for t in range(first, last + 1):
                        at = NOW - dt.timedelta(seconds=span * (txns - t) / txns)
                        if t % 10 == 1:
                            copy.write_row(
                                (
                                    t,
                                    "purchase",
                                    "Bought 1,000 credits",
                                    "bench",
                                    None,
                                    at,
                                )
                            )
                        else:
                            m = t % members + 1
                            copy.write_row(
                                (
                                    t,
                                    "member_renew",
                                    f"Renewed member{m:06d}",
                                    "bench",
                                    m,
                                    at,
                                )
                            )
                with cur.copy(
                    "COPY members_ledgerentry (id, transaction_id, account_id, amount)"
                    " FROM STDIN"
                ) as copy:
                    for t in range(first, last + 1):
                        if t % 10 == 1:
                            rows = ((1, 100_000), (2, -100_000))
                        else:
                            m = t % members + 1
                            price = plan_ids[m % 3][1]
                            rows = ((1, -price), (m + 2, price))
                        for account, amount in rows:
                            entry_id += 1
                            copy.write_row((entry_id, t, account, amount))
            conn.commit()  # the deferred trigger checks every transaction balances here
        with conn.cursor() as cur:
            for table in (
                "members_member",
                "members_account",
                "members_ledgertransaction",
                "members_ledgerentry",
                "members_plan",
            ):
                cur.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({name}, 'id'),"
                        " (SELECT MAX(id) FROM {table}))"
                    ).format(name=sql.Literal(table), table=sql.Identifier(table))
                )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


# --- measuring (run in a child process per database) -----------------------------------


def measure(requests: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from billing.models import LedgerTransaction
    from members.models import Member

    user, _ = User.objects.get_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    members = Member.objects.count()
    newest = LedgerTransaction.objects.order_by("-id").values_list("id", flat=True)[0]
    uid = (
        Member.objects.filter(status="active")
        .order_by("id")
        .values_list("uid", flat=True)[members // 4]
    )
    pages = [
        ("members list, page 1", "/members/"),
        ("members list, last page", f"/members/?page={members // 25}"),
        ("members, search", "/members/?q=number%20123"),
        ("members, plan+status", "/members/?plan=ultra&status=active&sort=term_end"),
        ("member detail", f"/members/{uid}/"),
        ("ledger, newest", "/ledger/"),
        ("ledger, middle (keyset)", f"/ledger/?before={newest // 2}"),
        ("ledger, oldest (keyset)", "/ledger/?before=60"),
        ("ledger, kind=purchase", "/ledger/?kind=purchase"),
        ("ledger, one member", f"/ledger/?uid={uid}"),
        ("dashboard", "/"),
    ]
    out = {}
    for name, url in pages:
        for _ in range(2):  # warm caches and the connection pool
            assert client.get(url).status_code == 200, url
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200, url
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        out[name] = {
            "median_ms": statistics.median(times) * 1000,
            "p90_ms": sorted(times)[int(0.9 * (len(times) - 1))] * 1000,
            "queries": len(ctx.captured_queries),
        }
    # CSV export: time to stream the first 20,000 rows.
    t0 = time.perf_counter()
    response = client.get("/ledger/export.csv")
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        if lines >= 20_001:
            break
    response.close()
    out["CSV export, first 20,000 rows"] = {
        "median_ms": (time.perf_counter() - t0) * 1000,
        "p90_ms": None,
        "queries": None,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=15, help="requests per page")
    parser.add_argument(
        "--reuse", action="store_true", help="keep databases built by an earlier run"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.requests)))
        return
    server = database_url("bench_portal").rpartition("/")[0]
    results = {}
    for size, (members, entries) in SIZES.items():
        url = f"{server}/bench_portal_{size}"
        env = deployment_env(DATABASE_URL=url, LOG_LEVEL="WARNING")
        if not args.reuse:
            print(
                f"Building {size}: {members:,} members, {entries:,} entries …",
                flush=True,
            )
            migrate(env)
            print(f"  loaded in {load(url, members, entries):.0f} s", flush=True)
        done = subprocess.run(
            [PY, __file__, "--measure", "--requests", str(args.requests)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        results[size] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {size}: {ledgercheck(env).splitlines()[-1]}")
    print()
    print(
        f"Portal server time, median of {args.requests} requests (Django test Client, "
        "PostgreSQL, one process)"
    )
    header = (
        f"{'page':<32} {'1k members ms':>14} {'100k members ms':>16} {'queries':>8}"
    )
    print(header)
    print("-" * len(header))
    for page in results["small"]:
        small, large = results["small"][page], results["large"][page]
        print(
            f"{page:<32} {small['median_ms']:>14.1f} {large['median_ms']:>16.1f} "
            f"{large['queries'] if large['queries'] is not None else '':>8}"
        )


if __name__ == "__main__":
    main()
