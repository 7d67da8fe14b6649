"""Member mutations per second through the REST API, beside the sandbox call alone.

Starts, on loopback: the sandbox (its own process) and the web process (uvicorn, one
and then two worker processes) on PostgreSQL. Each client works on members of its own
and runs create → change plan → cancel per member, every request with a fresh
Idempotency-Key, two ways in the same run:

  sandbox direct  the Organization API call alone (the baseline)
  API, N web      the mirror: key claimed, operation recorded with its hold, upstream
                  call, settled with its ledger posting, response stored

It prints mutations/s and p50/p99 latency for each, the latency the API adds at one
client, the wallet row's hold time per transaction (p50/p99, from the web process's
`orgportal_wallet_lock_seconds` histogram; one web process only: each process keeps
its own), and the SQL statements and commits one mutation costs (captured in this
process through the same views on the same database).

    python bench/member_mutations.py [--members 100] [--clients 1,8,32] [--workers 1,2]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/orgportal_bench;
the database is created if missing and emptied first).
"""

import argparse
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _common import (
    LOCAL,
    Processes,
    free_port,
    ledgercheck,
    manage,
    migrate,
    percentile,
    sandbox_env,
    stop_processes,
)
from _measure import cpu_by_process, cpu_seconds, py_spy, top_frames

ORG_KEY = "bench-org-key"
PROFILE_S = 5  # a run at 1 client lasts longer
SEQUENCE = (
    ("create", "/members/create", lambda uid: {"uid": uid, "plan": "pro"}),
    ("update", "/members/{uid}/update", lambda uid: {"plan": "ultra"}),
    ("cancel", "/members/{uid}/cancel", lambda uid: None),
)


def sequence(client: httpx.Client):
    def run(uid: str) -> list[float]:
        out = []
        for _, path, body in SEQUENCE:
            headers = {"Idempotency-Key": uuid.uuid4().hex}
            t0 = time.perf_counter()
            response = client.post(
                path.format(uid=uid), json=body(uid), headers=headers
            )
            out.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise SystemExit(f"POST {path}: {response.status_code} {response.text}")
        return out

    return run


def run_load(fn, members: int, clients: int) -> tuple[float, list[float]]:
    """`fn(uid) -> [latencies]` for `members` distinct members across `clients`
    threads; (mutations/s, latencies)."""
    uids = [f"b{uuid.uuid4().hex[:12]}" for _ in range(members)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(fn, uids))
    elapsed = time.perf_counter() - start
    latencies = [lat for per_member in results for lat in per_member]
    return len(latencies) / elapsed, latencies


_BUCKET = re.compile(r'^orgportal_wallet_lock_seconds_bucket\{le="([^"]+)"\} (\S+)$')


def lock_buckets(web_url: str) -> list[tuple[float, float]]:
    text = httpx.get(web_url + "/metrics", timeout=10).text
    rows = []
    for line in text.splitlines():
        match = _BUCKET.match(line)
        if match:
            rows.append((float(match[1]), float(match[2])))
    return sorted(rows)


def bucket_quantile(before, after, q: float) -> float:
    """The q-quantile of what was observed between two scrapes of a cumulative
    histogram, interpolated linearly inside its bucket."""
    deltas = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = deltas[-1][1]
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for le, cumulative in deltas:
        if cumulative >= rank:
            if le == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 1)
        lower, below = le, cumulative
    return lower


def statement_counts(env: dict, token: str) -> dict[str, tuple[int, int]]:
    """(statements, commits) of one create, change and cancel with an Idempotency-Key,
    through the API's views in this process, against the same database and sandbox.
    A statement outside any transaction commits by itself and counts as a commit."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST=LOCAL)
    counts = {}
    # The first sequence warms this process (token, plans, settings); the second counts.
    for uid in (f"w{uuid.uuid4().hex[:12]}", f"q{uuid.uuid4().hex[:12]}"):
        counts = _sequence_counts(client, uid, connection, CaptureQueriesContext)
    connection.close()
    return counts


def _sequence_counts(client, uid, connection, capture) -> dict[str, tuple[int, int]]:
    counts = {}
    for name, path, body in SEQUENCE:
        with capture(connection) as captured:
            response = client.post(
                "/api/organization" + path.format(uid=uid),
                body(uid) or {},
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
            )
        if response.status_code != 200:
            raise SystemExit(f"{name}: {response.status_code} {response.content!r}")
        sqls = [q["sql"] for q in captured.captured_queries]
        commits, in_transaction = 0, False
        for sql in sqls:
            if sql == "BEGIN":
                in_transaction = True
            elif sql == "COMMIT":
                commits, in_transaction = commits + 1, False
            elif not in_transaction and not sql.startswith("SELECT"):
                commits += 1  # a write outside a transaction commits by itself
        counts[name] = (len(sqls), commits)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--members", type=int, default=100, help="members per run (3 mutations each)"
    )
    parser.add_argument(
        "--clients", default="1,8,32", help="concurrent clients, comma separated"
    )
    parser.add_argument(
        "--workers", default="1,2", help="uvicorn worker processes, comma separated"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="then one more run at 1 client on 1 web process under py-spy (raw "
        "stacks into FILE), not in the table",
    )
    args = parser.parse_args()
    clients_list = [int(c) for c in args.clients.split(",")]
    workers_list = [int(w) for w in args.workers.split(",")]

    sandbox_port = free_port()
    sandbox_url = f"http://{LOCAL}:{sandbox_port}"
    env = sandbox_env("orgportal_bench", sandbox_url, ORG_KEY, DATABASE_POOL_MAX="20")
    migrate(env)
    token = manage(env, "createservicetoken", "bench", "--quiet").stdout.strip()
    runs = len(clients_list) * len(workers_list) + 3
    with Processes() as procs:
        sandbox = procs.sandbox(sandbox_port, env)
        direct = httpx.Client(
            base_url=sandbox_url + "/api/organization",
            headers={"Authorization": f"Bearer {ORG_KEY}"},
            timeout=30,
            limits=httpx.Limits(max_connections=64),
        )
        rows, holds, shares = [], {}, {}
        run_load(sequence(direct), 5, 1)  # warm up
        for clients in clients_list:
            rows.append(("sandbox direct", clients, *_measure(direct, args, clients)))
            print(f"  measured sandbox direct at {clients} client(s)", flush=True)
        for workers in workers_list:
            web_port = free_port()
            web_url = f"http://{LOCAL}:{web_port}"
            web = procs.web(web_port, env, "--workers", str(workers))
            groups = {
                "web": web.pid,
                "sandbox": sandbox.pid,
                "PostgreSQL": "postgres",
            }
            api = httpx.Client(
                base_url=web_url + "/api/organization",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
                limits=httpx.Limits(max_connections=64),
            )
            api.post(
                "/credits/purchase", json={"credits": 60 * args.members * runs}
            ).raise_for_status()
            run_load(sequence(api), 5 * workers, workers)  # warm every process up
            name = f"API, {workers} web"
            for clients in clients_list:
                before = lock_buckets(web_url) if workers == 1 else None
                cpu_before = {
                    **cpu_by_process(groups),
                    "client": cpu_seconds(os.getpid()),
                }
                rows.append((name, clients, *_measure(api, args, clients)))
                cpu_after = {
                    **cpu_by_process(groups),
                    "client": cpu_seconds(os.getpid()),
                }
                shares[(workers, clients)] = {
                    k: (cpu_after[k] - cpu_before[k]) / (args.members * len(SEQUENCE))
                    for k in cpu_after
                }
                if before is not None:
                    after = lock_buckets(web_url)
                    holds[clients] = (
                        bucket_quantile(before, after, 0.5),
                        bucket_quantile(before, after, 0.99),
                    )
                print(f"  measured {name} at {clients} client(s)", flush=True)
            if args.profile and workers == 1:
                profiler = py_spy(args.profile, PROFILE_S, nonblocking=False)(web.pid)
                time.sleep(1)  # attached
                _measure(api, args, 1)
                profiler.wait(60)
                print(f"\nweb process profile (py-spy, {PROFILE_S} s at 1 client):")
                for frame, share in top_frames(Path(args.profile)):
                    print(f"{share:>6.1f}%  {frame}")
            api.close()
            stop_processes([web])
        counts = statement_counts(env, token)
        _report(args, rows, holds, counts, clients_list, workers_list)
        print()
        print("CPU ms per mutation by process (API runs):")
        for (workers, clients), share in shares.items():
            parts = ", ".join(f"{k} {v * 1000:.2f}" for k, v in share.items())
            print(f"  {workers} web, {clients} client(s): {parts}")
        print()
        print(ledgercheck(env))


def _measure(client, args, clients) -> tuple[float, float, float, float]:
    """mutations/s, p50 and p99 latency, and the machine's busy CPU time per mutation
    (every process: client, web, sandbox, PostgreSQL)."""
    busy = cpu_seconds()
    rate, lat = run_load(sequence(client), args.members, clients)
    busy = cpu_seconds() - busy
    return rate, percentile(lat, 0.5), percentile(lat, 0.99), busy / len(lat)


def _report(args, rows, holds, counts, clients_list, workers_list) -> None:
    print()
    print(
        f"Member mutations (create → change plan → cancel, each with an "
        f"Idempotency-Key), {args.members} distinct members per run, PostgreSQL, "
        "loopback"
    )
    print(
        f"{'path':<16} {'clients':>7} {'mutations/s':>12} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/mutation':>16}"
    )
    for name, clients, rate, p50, p99, cpu in rows:
        print(
            f"{name:<16} {clients:>7} {rate:>12.1f} {p50 * 1000:>8.2f} "
            f"{p99 * 1000:>8.2f} {cpu * 1000:>16.2f}"
        )
    cores = os.cpu_count()
    print(
        "(CPU ms/mutation: the machine's busy time per mutation, every process: "
        f"client, web, sandbox, PostgreSQL; {cores} cores give {cores} s a second)"
    )
    print()
    direct = {c: r for n, c, *r in rows if n == "sandbox direct"}
    for workers in workers_list:
        api = {c: r for n, c, *r in rows if n == f"API, {workers} web"}
        low, high = min(clients_list), max(clients_list)
        print(
            f"API, {workers} web: adds p50 +{(api[low][1] - direct[low][1]) * 1000:.2f} ms, "
            f"p99 +{(api[low][2] - direct[low][2]) * 1000:.2f} ms at {low} client(s); "
            + ", ".join(
                f"{c} clients {api[c][0] / api[low][0]:.1f}×"
                for c in clients_list
                if c != low
            )
            + f" the throughput at {low}"
            + (f" (up to {high})" if high != low else "")
        )
    if holds:
        print()
        print(
            "Wallet row held per transaction (first wallet statement → commit), 1 web:"
        )
        for clients, (p50, p99) in holds.items():
            print(
                f"  {clients} client(s): p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"
            )
    print()
    print("One mutation's SQL round trips (statements incl. BEGIN/COMMIT) and commits:")
    for name, (statements, commits) in counts.items():
        print(f"  {name:<7} {statements:>3} statements, {commits} commits")


if __name__ == "__main__":
    main()
