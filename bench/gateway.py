"""Market data gateway throughput and latency beside its baselines, in one run.

On loopback, with wrk (Debian package `wrk`) as the bounded load generator, for 1, 16 and
64 connections against four targets serving the same ~1.8 KB JSON:

  upstream direct   the sandbox's market endpoint itself
  bare proxy        bench/bare_proxy.py: aiohttp pass-through, no gate (the baseline)
  gateway           orgportal's /v3 gateway: key lookup, plan gates, one Redis Lua call
                    for rate limit + quota, metering, aiohttp upstream call (with
                    speculative forwarding: the upstream call started beside the
                    limiter call when the member has headroom)
  gw no spec        the same gateway with MARKET_SPECULATE=0 (count, then forward): the
                    A/B of speculative forwarding, measured in the same rounds

    python bench/gateway.py [--seconds 5] [--rounds 5] [--redis-url URL]

Latency at one connection is measured in two layouts. "pinned": the load generator and
the upstream (which stand in for other machines) on one half of the CPUs, the system
under test (bare proxy or gateway, and the gateway's Redis) on the other half, so that
on a small machine the upstream and Redis do not take turns on one core, which they
never would in production. "shared": every process wherever the OS puts it. Throughput
(16 and 64 connections) is measured shared.

The machine is shared and noisy, so the whole grid is measured `--rounds` times, the
targets' order alternating from round to round, and each figure reported is the median
over the rounds (with its range); what the gateway adds is taken within each round
(gateway minus bare proxy, measured back to back) before the median is taken.

Needs PostgreSQL (DATABASE_URL, default .../orgportal_bench, recreated) and Redis: its
own redis-server on a free loopback port (no persistence) when the binary is installed,
so nothing else on the machine shares it, else --redis-url (default REDIS_URL or
redis://127.0.0.1:6379/0; then the pinned layout leaves Redis where it is).
"""

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import httpx
import redis as redis_sync
from _common import AS_DEPLOYED, Processes, free_port, setup_shell
from _measure import cpu_seconds, pin, py_spy, wrk

ORG_KEY = "bench-org-key"
PATH = "/v3/symbols/NASDAQ:AAPL/series?bar_type=minute&bar_interval=1&data_points=20"
# Requests in flight at the same time ask for different bar intervals (1..1,000 minutes:
# the same 20 bars, the same ~2 KB), so the gateway's coalescing of identical concurrent
# requests never serves one upstream answer to many: this measures the full path. Every
# target gets the same sequence.
WRK_SCRIPT = """
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
counter = 0
request = function()
  counter = counter + 1
  local n = counter * 2 + id
  local path = string.gsub(wrk.path, "bar_interval=1&", "bar_interval=" .. (1 + n % 1000) .. "&")
  return wrk.format(nil, path)
end
"""
CONNECTIONS = [1, 16, 64]
PINNED = "1p"  # the cell of one connection in the pinned layout


def redis_cpu_seconds(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(
    url: str,
    key: str,
    connections: int,
    seconds: int,
    pid=None,
    redis=None,
    cpus=None,
) -> dict:
    """One wrk run (on `cpus`, when given); with `pid` (and `redis`, a client) also the
    CPU time the serving process (and the Redis server) spent per request."""
    threads = 1 if connections == 1 else 2
    cpu0 = cpu_seconds(pid) if pid else 0.0
    rcpu0 = redis_cpu_seconds(redis) if redis else 0.0
    script = Path(tempfile.gettempdir()) / "orgportal-bench-gateway.lua"
    script.write_text(WRK_SCRIPT)
    result = wrk(
        url, key, connections, seconds, "-s", str(script), threads=threads, cpus=cpus
    )
    cpu = cpu_seconds(pid) - cpu0 if pid else 0.0
    rcpu = redis_cpu_seconds(redis) - rcpu0 if redis else 0.0
    count = max(result["requests"], 1)
    return {**result, "cpu_us": cpu / count * 1e6, "redis_us": rcpu / count * 1e6}


def spread(values: list[float], fmt: str) -> str:
    """median [min … max]"""
    return (
        f"{fmt.format(statistics.median(values))} "
        f"[{fmt.format(min(values))} … {fmt.format(max(values))}]"
    )


def report(runs: dict, names: list[str], size: int, args, pinned: bool) -> None:
    med = statistics.median
    one = [PINNED, 1] if pinned else [1]
    print()
    print(
        f"GET {PATH}  ({size:,} bytes), wrk {args.seconds} s per cell, loopback, "
        f"one process each; medians of {args.rounds} rounds"
    )
    print(
        f"{'target':<16}"
        + "".join(
            f"{'p50/p99 c=1' + (' pinned' if c == PINNED else ''):>22}" for c in one
        )
        + "".join(f"{'c=' + str(c) + ' req/s':>13}" for c in CONNECTIONS)
        + f"{'non-2xx':>8}{'CPU/req c=1':>12}{'c=64':>7}{'Redis':>7}"
    )
    for name in names:
        first = runs[(name, one[0])]
        print(
            f"{name:<16}"
            + "".join(
                f"{med(r['p50'] for r in runs[(name, c)]):>13.2f}"
                f" /{med(r['p99'] for r in runs[(name, c)]):>5.2f}ms"
                for c in one
            )
            + "".join(
                f"{med(r['rps'] for r in runs[(name, c)]):>13,.0f}" for c in CONNECTIONS
            )
            + f"{sum(r['errors'] for (n, _), cell in runs.items() if n == name for r in cell):>8.0f}"
            + f"{med(r['cpu_us'] for r in first):>10.0f}µs"
            + f"{med(r['cpu_us'] for r in runs[(name, 64)]):>5.0f}µs"
            + (
                f"{med(r['redis_us'] for r in first):>5.0f}µs"
                if name.startswith("g")
                else ""
            )
        )
    print(
        "CPU/req: CPU time of the serving process per request (all its threads) at one "
        "connection" + (" (pinned)" if pinned else "") + " and at 64; Redis: the Redis "
        "server's at one connection"
    )

    def added(target: str, cell, field: str) -> list[float]:
        pairs = zip(runs[(target, cell)], runs[("bare proxy", cell)], strict=True)
        return [g[field] - b[field] for g, b in pairs]

    gate, bare = runs[("gateway", 64)], runs[("bare proxy", 64)]
    ratio = [g["rps"] / b["rps"] for g, b in zip(gate, bare, strict=True)]
    upstream = [r["rps"] for r in runs[("upstream direct", 64)]]
    print()
    print(
        "median [range] over the rounds, each round's gateway against its bare proxy:"
    )
    print(f"gateway / bare proxy at c=64: {spread(ratio, '{:.2f}x')} (target ≥ 0.5x)")
    for c in one:
        layout = "pinned" if c == PINNED else "shared"
        p50, p99 = added("gateway", c, "p50"), added("gateway", c, "p99")
        print(
            f"gateway adds at c=1 ({layout}), p50: {spread(p50, '{:+.2f} ms')}"
            + " (target ≤ 0.3 ms)"
        )
        print(
            f"gateway adds at c=1 ({layout}), p99: {spread(p99, '{:+.2f} ms')}"
            + " (target ≤ 1.5 ms)"
        )
    print(
        f"upstream direct at c=64: {spread(upstream, '{:,.0f}')} req/s (target ≥ 5,000)"
    )
    c = one[0]
    plain50 = added("gw no spec", c, "p50")
    spec = [
        g["p50"] - p["p50"]
        for g, p in zip(runs[("gateway", c)], runs[("gw no spec", c)], strict=True)
    ]
    print(
        f"without speculation adds at c=1{' (pinned)' if pinned else ''}, p50: "
        f"{spread(plain50, '{:+.2f} ms')}; speculation changes p50 by "
        f"{spread(spec, '{:+.2f} ms')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=5, help="times the whole grid is measured"
    )
    parser.add_argument(
        "--redis-url",
        help="use this Redis instead of starting one (default when redis-server is "
        "not installed: REDIS_URL or redis://127.0.0.1:6379/0)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="also record the gateway with py-spy (pip install py-spy) at c=1 into FILE "
        "(collapsed stacks)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    with Processes() as procs:
        redis_url = args.redis_url
        if redis_url is None and not shutil.which("redis-server"):
            redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        env, upstream = procs.deployment("orgportal_bench", ORG_KEY, redis_url)
        sandbox, sandbox_url = upstream.proc, upstream.url
        proxy_port, web_port, plain_port = free_port(), free_port(), free_port()
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
            "from billing.services import ledger\nfrom members.services import operations\n"
            "from members.services.plans import plans_sync\n"
            "plans_sync(); ledger.credits_purchase(credits=100, actor='bench')\n"
            "o = operations.member_create(uid='bench', plan='bench', actor='bench')\n"
            "from members.crypto import decrypt\n"
            "print(o.api_key); print(decrypt(o.member.upstream_key_encrypted))\n"
        )
        gateway_key, upstream_key = setup_shell(env, setup).split()[-2:]
        bare = procs.script("bare_proxy.py", proxy_port, sandbox_url)
        # The gateway twice: as deployed, and without speculative forwarding (the A/B
        # of marketdata/speculation.py's overlap of the limiter call and the upstream call).
        gateways = {
            speculate: procs.web(
                port, {**env, "MARKET_SPECULATE": speculate}, *AS_DEPLOYED
            )
            for port, speculate in ((plain_port, "0"), (web_port, "1"))
        }
        targets = [
            ("upstream direct", sandbox_url, upstream_key, sandbox.pid),
            ("bare proxy", f"http://127.0.0.1:{proxy_port}", upstream_key, bare.pid),
            ("gateway", f"http://127.0.0.1:{web_port}", gateway_key, gateways["1"].pid),
            (
                "gw no spec",
                f"http://127.0.0.1:{plain_port}",
                gateway_key,
                gateways["0"].pid,
            ),
        ]
        # The pinned layout: clients and upstream on one half of the CPUs, the system
        # under test (and its own Redis) on the other.
        cpus = sorted(os.sched_getaffinity(0))
        pinned = len(cpus) >= 2
        outside, inside = set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2 :])
        under_test = [bare.pid, gateways["0"].pid, gateways["1"].pid]
        if procs.own_redis is not None:
            under_test.append(procs.own_redis.pid)
        cells = ([PINNED] if pinned else []) + CONNECTIONS
        redis = redis_sync.Redis.from_url(env["REDIS_URL"])
        size = len(
            httpx.get(
                sandbox_url + PATH, headers={"Authorization": f"Bearer {upstream_key}"}
            ).content
        )
        for _, base, key, _ in targets:  # warm up: connections, caches, the allocator
            measure(base + PATH, key, 4, 2)
            measure(base + PATH, key, 1, 1)
        if args.profile:
            spy = py_spy(args.profile, args.seconds, rate=500, nonblocking=False)
            spy = spy(gateways["1"].pid)
            measure(targets[2][1] + PATH, gateway_key, 1, args.seconds)
            spy.wait()
            print(f"Profile of the gateway at c=1 written to {args.profile}")
        runs: dict[tuple[str, int | str], list[dict]] = {}
        for round_no in range(args.rounds):
            order = targets if round_no % 2 == 0 else targets[::-1]
            for cell in cells:
                if cell == PINNED:
                    pin([sandbox.pid], outside)
                    pin(under_test, inside)
                for name, base, key, pid in order:
                    runs.setdefault((name, cell), []).append(
                        measure(
                            base + PATH,
                            key,
                            1 if cell == PINNED else cell,
                            args.seconds,
                            pid=pid,
                            redis=redis if name.startswith("g") else None,
                            cpus=outside if cell == PINNED else None,
                        )
                    )
                if cell == PINNED:
                    pin([sandbox.pid, *under_test], None)
            first = {name: runs[(name, cells[0])][-1] for name, *_ in targets}
            print(
                f"  round {round_no + 1}/{args.rounds}: c=1{' pinned' if pinned else ''}"
                " p50 " + ", ".join(f"{n} {r['p50']:.2f} ms" for n, r in first.items()),
                flush=True,
            )
        report(runs, [name for name, *_ in targets], size, args, pinned)
        try:  # how many upstream calls the gateway started beside its limiter call
            lines = httpx.get(f"http://127.0.0.1:{web_port}/metrics").text.splitlines()
            spec = [ln for ln in lines if ln.startswith("orgportal_market_speculative")]
            print("gateway speculative upstream calls:", "; ".join(spec) or "none")
        except httpx.HTTPError:
            pass


if __name__ == "__main__":
    main()
