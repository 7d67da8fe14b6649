"""Requests per second the sandbox's market data REST API answers.

The market data gateway's benchmark proxies to this upstream, so it must be well above
what the gateway is expected to do (target: 5,000 requests/s at 64 connections on a
2-core machine), or the gateway benchmark measures the sandbox.

Starts `python manage.py sandbox --port <free port>` (its own process), adds an
unthrottled custom plan through the control API (mega features, rate limit 1,000,000
a minute, no quota), creates a member on it through the Organization API, then loads

    GET /v3/symbols/NASDAQ:AAPL/series?bar_type=minute&data_points=20   (~1.8 KB)

with `wrk` at 1, 16 and 64 connections for a bounded time each, printing requests/s and
latency percentiles.

    python bench/sandbox_market.py [--connections 1,16,64] [--seconds 5]

Needs `wrk` (`apt-get install -y wrk`, `brew install wrk`); without it a Python client
stands in, which tops out well below the sandbox (its numbers are a lower bound).
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time

import httpx
from _common import ROOT, free_port, wait_http
from _measure import wrk

ORG_KEY = "bench-org-key"
PLAN = "bench_unthrottled"
PATH = "/v3/symbols/NASDAQ:AAPL/series?bar_type=minute&data_points=20"
TARGET_RPS = 5_000


def start_sandbox(port: int) -> subprocess.Popen:
    env = {**os.environ, "SANDBOX_ORG_KEY": ORG_KEY}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "sandbox", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def member_key(base: str) -> str:
    """An unthrottled member's upstream key: custom plan first, then the member."""
    with httpx.Client(base_url=base, timeout=10) as client:
        plan = {"name": PLAN, "feature": "mega", "price": 0}
        plan |= {"rate_limit": 1_000_000, "quota": 0}
        response = client.post("/_sandbox/plans", json=plan)
        response.raise_for_status()
        response = client.post(
            "/api/organization/members/create",
            json={"uid": "bench", "plan": PLAN},
            headers={"Authorization": f"Bearer {ORG_KEY}"},
        )
        response.raise_for_status()
        key = response.json()["member"]["api_key"]
        check = client.get(PATH, headers={"Authorization": f"Bearer {key}"})
        check.raise_for_status()
        print(
            f"answer: {check.status_code}, {len(check.content)} bytes, "
            f"{check.headers['content-type']}"
        )
        return key


async def _python_load(
    url: str, key: str, connections: int, seconds: int
) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[int(0.99 * (len(latencies) - 1))],
        "errors": float(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    levels = [int(n) for n in args.connections.split(",")]
    has_wrk = shutil.which("wrk") is not None
    if not has_wrk:
        print(
            "wrk not found: install it for real numbers (apt-get install -y wrk, or "
            "brew install wrk). Using a Python client instead; it saturates first, "
            "so these numbers are a lower bound."
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(port)
    try:
        wait_http(f"{base}/_sandbox/state")
        key = member_key(base)
        url = base + PATH
        print(f"\nGET {PATH}  ({args.seconds} s per level, {os.cpu_count()} CPUs)")
        print("| connections | requests/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|")
        for connections in levels:
            if has_wrk:
                result = wrk(url, key, connections, args.seconds)
            else:
                result = asyncio.run(_python_load(url, key, connections, args.seconds))
            print(
                f"| {connections} | {result['rps']:.0f} | {result['p50']:.2f} "
                f"| {result['p99']:.2f} | {result['errors']:.0f} |",
                flush=True,
            )
            if connections == 64:
                verdict = "meets" if result["rps"] >= TARGET_RPS else "BELOW"
                print(f"  -> {verdict} the {TARGET_RPS:,} requests/s target")
    finally:
        sandbox.terminate()
        try:
            sandbox.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sandbox.kill()
        if sandbox.returncode not in (0, -15, None) and sandbox.stderr is not None:
            print(sandbox.stderr.read().decode(errors="replace")[-2000:])


if __name__ == "__main__":
    main()
