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
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import redis as redis_sync

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    deployment_env,
    free_port,
    prepare_database,
    stop_processes,
    wait_http,
    web_command,
)

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
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


def pin(pids, cpus) -> None:
    """Every thread of each process onto `cpus` (None: all of this machine's)."""
    cpus = cpus or os.sched_getaffinity(0)
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except OSError:  # a thread that just ended
                pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu_seconds(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def wrk(
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
    out = subprocess.run(
        [
            "wrk",
            "-s",
            str(script),
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
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    ).stdout
    cpu = cpu_seconds(pid) - cpu0 if pid else 0.0
    rcpu = redis_cpu_seconds(redis) - rcpu0 if redis else 0.0
    count = int(re.search(r"(\d+) requests in", out).group(1))
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
        "cpu_us": cpu / max(count, 1) * 1e6,
        "redis_us": rcpu / max(count, 1) * 1e6,
    }


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
            + f"{sum(r['errors'] for (n, _), cell in runs.items() if n == name for r in cell):>8}"
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
    db_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orgportal_bench"
    )
    procs: list[subprocess.Popen] = []
    redis_url = args.redis_url
    if redis_url is None and shutil.which("redis-server"):
        redis_port = free_port()
        procs.append(
            subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port)]
                + ["--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
    own_redis = bool(procs)
    redis_url = redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    print("Preparing a fresh PostgreSQL database …", flush=True)
    prepare_database(db_url)
    sandbox_port, proxy_port, web_port = free_port(), free_port(), free_port()
    plain_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = deployment_env(
        **{
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "SANDBOX_ORG_KEY": ORG_KEY,
            "UPSTREAM_ORG_URL": sandbox_url,
            "UPSTREAM_MARKET_URL": sandbox_url,
            "UPSTREAM_ORG_KEY": ORG_KEY,
            "LOG_LEVEL": "WARNING",
            # Read at the end for the speculation counters; closed unless allowed.
            "METRICS_ALLOWED_IPS": "127.0.0.1",
        }
    )
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs.append(
        subprocess.Popen(
            [PY, "manage.py", "sandbox", "--port", str(sandbox_port)],
            cwd=ROOT,
            env=env,
            **quiet,
        )
    )
    sandbox = procs[-1]
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
            "from billing.services import ledger\nfrom members.services import operations\n"
            "from members.services.plans import plans_sync\n"
            "plans_sync(); ledger.credits_purchase(credits=100, actor='bench')\n"
            "o = operations.member_create(uid='bench', plan='bench', actor='bench')\n"
            "from members.crypto import decrypt\n"
            "print(o.api_key); print(decrypt(o.member.upstream_key_encrypted))\n"
        )
        done = subprocess.run(
            [PY, "manage.py", "shell", "-c", setup],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(f"member setup failed:\n{done.stderr}")
        out = done.stdout.split()
        gateway_key, upstream_key = out[-2], out[-1]
        procs.append(
            subprocess.Popen(
                [PY, "bench/bare_proxy.py", str(proxy_port), sandbox_url],
                cwd=ROOT,
                **quiet,
            )
        )
        bare = procs[-1]
        # The gateway twice: as deployed, and without speculative forwarding (the A/B
        # of marketdata/speculation.py's overlap of the limiter call and the upstream call).
        gateways = {}
        for port, speculate in ((plain_port, "0"), (web_port, "1")):
            procs.append(
                subprocess.Popen(
                    web_command(PY, port, "--loop", "uvloop", "--http", "httptools"),
                    cwd=ROOT,
                    env={**env, "MARKET_SPECULATE": speculate},
                    **quiet,
                )
            )
            gateways[speculate] = procs[-1]
        wait_http(f"http://127.0.0.1:{proxy_port}/")
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        wait_http(f"http://127.0.0.1:{plain_port}/healthz")
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
        if own_redis:
            under_test.append(procs[0].pid)
        cells = ([PINNED] if pinned else []) + CONNECTIONS
        redis = redis_sync.Redis.from_url(redis_url)
        size = len(
            httpx.get(
                sandbox_url + PATH, headers={"Authorization": f"Bearer {upstream_key}"}
            ).content
        )
        for _, base, key, _ in targets:  # warm up: connections, caches, the allocator
            wrk(base + PATH, key, 4, 2)
            wrk(base + PATH, key, 1, 1)
        if args.profile:
            here = Path(sys.executable).parent / "py-spy"
            spy = subprocess.Popen(
                [
                    str(here) if here.exists() else "py-spy",
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
                    str(gateways["1"].pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wrk(targets[2][1] + PATH, gateway_key, 1, args.seconds)
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
                        wrk(
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
    finally:
        stop_processes(procs)


if __name__ == "__main__":
    main()
