"""Market data gateway throughput and latency beside its baselines, in one run.

On loopback, with wrk (Debian package `wrk`) as the bounded load generator, for 1, 16 and
64 connections against three targets serving the same ~1.8 KB JSON:

  upstream direct   the sandbox's market endpoint itself
  bare proxy        bench/bare_proxy.py: aiohttp pass-through, no gate (the baseline)
  gateway           orgportal's /v3 gateway: key lookup, plan gates, one Redis Lua call
                    for rate limit + quota, metering, aiohttp upstream call

    python bench/gateway.py [--seconds 5]

Needs PostgreSQL (DATABASE_URL, default .../orgportal_bench, recreated) and Redis
(REDIS_URL, default redis://127.0.0.1:6379/0).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, prepare_database, stop_processes, wait_http  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ORG_KEY = "bench-org-key"
PATH = "/v3/symbols/NASDAQ:AAPL/series?bar_type=minute&bar_interval=1&data_points=20"
# Each request asks for a different number of points (20..59), so the gateway's request
# coalescing cannot serve one upstream answer to many: this measures the full path.
WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local path = string.gsub(wrk.path, "data_points=20", "data_points=" .. (20 + counter % 40))
  return wrk.format(nil, path)
end
"""
CONNECTIONS = [1, 16, 64]


def wrk(url: str, key: str, connections: int, seconds: int) -> dict:
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {key}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        lat[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rate,
        "p50": lat["50"],
        "p99": lat["99"],
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="also record the gateway with py-spy (pip install py-spy) at c=1 into FILE "
        "(collapsed stacks)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    db_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orgportal_bench"
    )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    print("Preparing a fresh PostgreSQL database …", flush=True)
    prepare_database(db_url)
    sandbox_port, proxy_port, web_port = free_port(), free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SANDBOX_ORG_KEY": ORG_KEY,
        "UPSTREAM_ORG_URL": sandbox_url,
        "UPSTREAM_MARKET_URL": sandbox_url,
        "UPSTREAM_ORG_KEY": ORG_KEY,
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [PY, "manage.py", "sandbox", "--port", str(sandbox_port)],
            cwd=ROOT,
            env=env,
            **quiet,
        )
    ]
    try:
        wait_http(sandbox_url + "/")
        # A plan whose limits never bind: this measures the gate's cost, not its refusals.
        httpx.post(
            sandbox_url + "/_sandbox/plans",
            json={
                "name": "bench",
                "price": 50,
                "feature": "mega",
                "rate_limit": 100_000_000,
                "quota": 0,
                "websocket_symbols": 12,
                "websocket_connections": 3,
            },
        ).raise_for_status()
        setup = (
            "from members.services import ledger, operations\n"
            "from members.services.plans import plans_sync\n"
            "plans_sync(); ledger.credits_purchase(credits=100, actor='bench')\n"
            "o = operations.member_create(uid='bench', plan='bench', actor='bench')\n"
            "from members.crypto import decrypt\n"
            "print(o.api_key); print(decrypt(o.member.upstream_key_encrypted))\n"
        )
        out = subprocess.run(
            [PY, "manage.py", "shell", "-c", setup],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        gateway_key, upstream_key = out[-2], out[-1]
        procs.append(
            subprocess.Popen(
                [PY, "bench/bare_proxy.py", str(proxy_port), sandbox_url],
                cwd=ROOT,
                **quiet,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    PY,
                    "-m",
                    "uvicorn",
                    "orgportal.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(web_port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--loop",
                    "uvloop",
                    "--http",
                    "httptools",
                ],
                cwd=ROOT,
                env=env,
                **quiet,
            )
        )
        wait_http(f"http://127.0.0.1:{proxy_port}/")
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        targets = [
            ("upstream direct", sandbox_url, upstream_key),
            ("bare proxy", f"http://127.0.0.1:{proxy_port}", upstream_key),
            ("gateway", f"http://127.0.0.1:{web_port}", gateway_key),
        ]
        size = len(
            httpx.get(
                sandbox_url + PATH, headers={"Authorization": f"Bearer {upstream_key}"}
            ).content
        )
        for _, base, key in targets:  # warm up
            wrk(base + PATH, key, 4, 1)
        if args.profile:
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--format",
                    "raw",
                    "-o",
                    args.profile,
                    "-r",
                    "500",
                    "-d",
                    str(args.seconds),
                    "-p",
                    str(procs[-1].pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wrk(targets[2][1] + PATH, gateway_key, 1, args.seconds)
            spy.wait()
            print(f"Profile of the gateway at c=1 written to {args.profile}")
        results = {}
        for connections in CONNECTIONS:
            for name, base, key in targets:
                results[(name, connections)] = wrk(
                    base + PATH, key, connections, args.seconds
                )
                print(f"  measured {name} at {connections} connection(s)", flush=True)
        print()
        print(
            f"GET {PATH}  ({size:,} bytes), wrk {args.seconds} s per cell, loopback, "
            "one process each"
        )
        print(
            f"{'target':<16}"
            + "".join(f"{'c=' + str(c) + ' req/s':>14}" for c in CONNECTIONS)
            + f"{'p50 c=1':>10}{'p99 c=1':>10}{'non-2xx':>9}"
        )
        for name, _, _ in targets:
            row = [results[(name, c)] for c in CONNECTIONS]
            print(
                f"{name:<16}"
                + "".join(f"{r['rps']:>14,.0f}" for r in row)
                + f"{row[0]['p50']:>8.2f}ms{row[0]['p99']:>8.2f}ms"
                + f"{sum(r['errors'] for r in row):>9}"
            )
        gate, bare = results[("gateway", 64)], results[("bare proxy", 64)]
        one_g, one_b = results[("gateway", 1)], results[("bare proxy", 1)]
        print()
        print(
            f"gateway / bare proxy at c=64: {gate['rps'] / bare['rps']:.2f}x (target ≥ 0.5x)"
        )
        print(
            f"gateway adds at c=1: p50 +{one_g['p50'] - one_b['p50']:.2f} ms "
            f"(target ≤ 0.3), p99 +{one_g['p99'] - one_b['p99']:.2f} ms (target ≤ 1.5)"
        )
        print(
            f"upstream direct at c=64: {results[('upstream direct', 64)]['rps']:,.0f} req/s "
            "(target ≥ 5,000)"
        )
    finally:
        stop_processes(procs)


if __name__ == "__main__":
    main()
