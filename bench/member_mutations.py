"""Member mutations per second through the REST API, beside the sandbox call alone.

Starts, on loopback: the sandbox (its own process) and the web process (uvicorn, one
worker) on PostgreSQL. Then runs the same mutation sequence per member, create → change
plan → cancel, two ways in the same run:

  sandbox direct  the Organization API call alone (the baseline)
  orgportal API   the mirror: operation record, wallet lock, upstream call, ledger posting

and prints throughput and p50/p99 latency for each, and the latency the API adds.

    python bench/member_mutations.py [--members 100] [--clients 1,8]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/orgportal_bench;
the database is created if missing and emptied first).
"""

import argparse
import statistics
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from _common import (
    LOCAL,
    PY,
    ROOT,
    Processes,
    free_port,
    migrate,
    percentile,
    sandbox_env,
)

ORG_KEY = "bench-org-key"


def run_load(fn, members: int, clients: int) -> tuple[float, list[float]]:
    """Run `fn(uid) -> [latencies]` for each member across `clients` threads."""
    uids = [f"b{uuid.uuid4().hex[:12]}" for _ in range(members)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(fn, uids))
    elapsed = time.perf_counter() - start
    latencies = [lat for per_member in results for lat in per_member]
    return len(latencies) / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--members", type=int, default=100, help="members per run (3 mutations each)"
    )
    parser.add_argument(
        "--clients", default="1,8", help="concurrent clients, comma separated"
    )
    args = parser.parse_args()
    clients_list = [int(c) for c in args.clients.split(",")]

    sandbox_port, web_port = free_port(), free_port()
    sandbox_url = f"http://{LOCAL}:{sandbox_port}"
    web_url = f"http://{LOCAL}:{web_port}"
    env = sandbox_env("orgportal_bench", sandbox_url, ORG_KEY, DATABASE_POOL_MAX="20")
    migrate(env)
    token = subprocess.run(
        [PY, "manage.py", "createservicetoken", "bench", "--quiet"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with Processes() as procs:
        procs.sandbox(sandbox_port, env)
        procs.web(web_port, env)
        api = httpx.Client(
            base_url=web_url + "/api/organization",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx.Limits(max_connections=64),
        )
        direct = httpx.Client(
            base_url=sandbox_url + "/api/organization",
            headers={"Authorization": f"Bearer {ORG_KEY}"},
            timeout=30,
            limits=httpx.Limits(max_connections=64),
        )
        # two API paths (with and without keys) per client count
        total_members = 2 * args.members * len(clients_list)
        api.post(
            "/credits/purchase", json={"credits": 50 * total_members + 100}
        ).raise_for_status()

        def sequence(client: httpx.Client, *, keyed: bool = False):
            def run(uid: str) -> list[float]:
                out = []
                for method, path, body in (
                    ("POST", "/members/create", {"uid": uid, "plan": "pro"}),
                    ("POST", f"/members/{uid}/update", {"plan": "ultra"}),
                    ("POST", f"/members/{uid}/cancel", None),
                ):
                    # a fresh Idempotency-Key: claimed, bound and stored each time
                    headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
                    t0 = time.perf_counter()
                    response = client.request(method, path, json=body, headers=headers)
                    out.append(time.perf_counter() - t0)
                    if response.status_code != 200:
                        raise SystemExit(
                            f"{method} {path}: {response.status_code} {response.text}"
                        )
                return out

            return run

        # warm up both paths (connections, caches, plan sync)
        run_load(sequence(direct), 5, 1)
        run_load(sequence(api), 5, 1)

        rows = []
        for clients in clients_list:
            for name, run in (
                ("sandbox direct", sequence(direct)),
                ("orgportal API", sequence(api)),
                ("API + Idem-Key", sequence(api, keyed=True)),
            ):
                rate, lat = run_load(run, args.members, clients)
                rows.append(
                    (
                        name,
                        clients,
                        rate,
                        percentile(lat, 0.5),
                        percentile(lat, 0.99),
                        statistics.mean(lat),
                    )
                )
                print(f"  measured {name} at {clients} client(s)", flush=True)

        print()
        print(
            f"Member mutations (create → change plan → cancel), {args.members} members per "
            "run, PostgreSQL, one uvicorn worker, loopback"
        )
        print(
            f"{'path':<16} {'clients':>7} {'mutations/s':>12} {'p50 ms':>8} {'p99 ms':>8}"
        )
        for name, clients, rate, p50, p99, _ in rows:
            print(
                f"{name:<16} {clients:>7} {rate:>12.1f} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f}"
            )
        print()
        print("Latency the API adds over the sandbox call alone:")
        for clients in clients_list:
            d = next(r for r in rows if r[0] == "sandbox direct" and r[1] == clients)
            a = next(r for r in rows if r[0] == "orgportal API" and r[1] == clients)
            print(
                f"  {clients} client(s): p50 +{(a[3] - d[3]) * 1000:.2f} ms, "
                f"p99 +{(a[4] - d[4]) * 1000:.2f} ms"
            )
        print("Latency an Idempotency-Key adds (claim, bind, stored response):")
        for clients in clients_list:
            a = next(r for r in rows if r[0] == "orgportal API" and r[1] == clients)
            k = next(r for r in rows if r[0] == "API + Idem-Key" and r[1] == clients)
            print(
                f"  {clients} client(s): p50 {(k[3] - a[3]) * 1000:+.2f} ms, "
                f"p99 {(k[4] - a[4]) * 1000:+.2f} ms"
            )
        check = subprocess.run(
            [PY, "manage.py", "ledgercheck"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        print()
        print((check.stdout or check.stderr).strip())


if __name__ == "__main__":
    main()
