"""Account streams: the gateway's /v1/accounts/ws beside the sandbox's Aries directly and
through a byte relay (the floor of any proxy), in one run.

On loopback, each its own process: the sandbox (the Aries upstream), its own
`redis-server`, the web process as deployed (uvicorn, `--web-workers` processes, 1
unless told) and the load
generator (2 processes of a minimal RFC 6455 client, bench/account_load.py). 500
brokerage users with one account each are created in the sandbox and linked to 500
members through the brokerage service. Each path in turn: 500 clients (one per
member) authenticate (the gateway key; or the user's Aries token, straight to the
sandbox or through bench/tcp_relay.py, which copies bytes both ways and does
nothing else) and subscribe to their account; the sandbox then sends `load` balance events
to every account subscription (each account at its own phase, the envelope timestamp
in milliseconds) for a warm-up and a measured window. Per path: events/s received,
p50/p99 from the event's timestamp to receipt, and events the sandbox sent that never
arrived (counted after the load stops and the pipes drain).

    python bench/account_streams.py [--members 500] [--rate 50] [--seconds 8]
                                    [--rounds 3] [--json FILE] [--profile FILE]

Needs PostgreSQL (DATABASE_URL, default .../orgportal_bench_accounts, recreated).
"""

import argparse
import json
import os
import statistics
import time
from collections import Counter
from pathlib import Path

import httpx
from _common import AS_DEPLOYED, Processes, free_port, setup_shell
from _measure import (
    cpu_by_process,
    cpu_seconds,
    pin,
    py_spy,
    top_frames,
    with_descendants,
)
from account_load import BINS, WORKERS, Load

ORG_KEY = "sandbox-org-key"
DRAIN_S = 1.5  # after the load stops, for the last events to arrive
PROFILE_S = 15
PATHS = ("sandbox direct", "byte relay", "gateway")


def percentile(hist: Counter, q: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = q * (total - 1), 0
    for bin_, count in sorted(hist.items()):
        seen += count
        if seen > rank:
            return (bin_ + 0.5) / 10
    return (BINS - 0.5) / 10


def control(sandbox: str, **body) -> dict:
    response = httpx.post(f"{sandbox}/_sandbox/aries", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def load_sent(sandbox: str) -> dict[str, int]:
    """Load events the sandbox sent so far, per open connection."""
    conns = httpx.get(f"{sandbox}/_sandbox/aries", timeout=30).json()["connections"]
    return {str(c["id"]): c.get("load_sent", 0) for c in conns}


def create_users(sandbox: str, count: int) -> list[dict]:
    with httpx.Client(base_url=sandbox, timeout=30) as client:
        return [
            client.post("/_sandbox/aries/users", json={"accounts": 1}).json()
            for _ in range(count)
        ]


def link_members(env: dict, users: list[dict]) -> list[str]:
    """A member per user, linked to it: their gateway keys, in order."""
    setup = (
        "import json, sys\n"
        "from brokerage.services import brokerage_link\n"
        "from billing.services import ledger\nfrom members.services import operations\n"
        "from members.services.plans import plans_sync\n"
        "users = json.load(sys.stdin)\n"
        "plans_sync(); ledger.credits_purchase(credits=len(users) * 100, actor='b')\n"
        "for i, u in enumerate(users):\n"
        "    o = operations.member_create(uid=f'acct{i}', plan='pro', actor='b')\n"
        "    brokerage_link(uid=f'acct{i}', access_token=u['access_token'],\n"
        "        refresh_token=u['refresh_token'], account_ids=u['account_ids'],\n"
        "        actor='b')\n"
        "    print(json.dumps(o.api_key))\n"
    )
    printed = setup_shell(env, setup, stdin=json.dumps(users))
    return [json.loads(ln) for ln in printed.splitlines() if ln.startswith('"')]


def cpu_now(pids: dict[str, list]) -> dict[str, float]:
    """CPU seconds so far per group; the server's with its worker processes."""
    cpu = {k: sum(map(cpu_seconds, v)) for k, v in pids.items() if k != "server"}
    return cpu | cpu_by_process({"server": pids["server"][0]})


def phase(load: Load, target: dict, specs: list, args, spy=None) -> dict:
    """Connect every client, run the load for warm-up + window, stop, count."""
    sandbox = target["sandbox"]
    started = time.monotonic()
    opened = load.ask(
        [("open", target["port"], specs[i::WORKERS]) for i in range(WORKERS)]
    )
    clients = sum(o["opened"] for o in opened)
    errors = [e for o in opened for e in o["errors"]][:3]
    connect_s = time.monotonic() - started
    before = load_sent(sandbox)
    control(sandbox, load_events_per_second=args.rate)
    t0 = time.time() + args.warmup
    t1 = t0 + args.seconds
    for pipe in load.pipes:
        pipe.send(("measure", t0 * 1000, t1 * 1000))
    time.sleep(max(0.0, t0 - time.time()))
    profiler = spy(target["pid"]) if spy else None
    pids = {"server": [target["pid"]], "sandbox": [target["sandbox_pid"]]}
    pids |= {"load": target["load_pids"], "machine": [None]}
    cpu0 = cpu_now(pids)
    time.sleep(max(0.0, t1 - time.time()))
    cpu1 = cpu_now(pids)
    cpu = {k: round((cpu1[k] - cpu0[k]) / args.seconds * 100, 1) for k in pids}
    hist, received = Counter(), 0
    for pipe in load.pipes:
        part, count = pipe.recv()
        hist.update(part)
        received += count
    control(sandbox, load_events_per_second=0)
    time.sleep(DRAIN_S)
    if profiler is not None:
        profiler.wait(60)
    after = load_sent(sandbox)
    sent = sum(n - before.get(c, 0) for c, n in after.items())
    counts = load.ask([("count",)] * WORKERS)
    got, closed = sum(c[0] for c in counts), sum(c[1] for c in counts)
    load.ask([("close",)] * WORKERS)
    time.sleep(1.0)
    return {
        "path": target["name"],
        "clients": clients,
        "failed": len(specs) - clients,
        "errors": errors,
        "connect_s": round(connect_s, 1),
        "events_per_s": received / args.seconds,
        **{f"p{q}": percentile(hist, q / 100) for q in (50, 90, 99, 99.9)},
        "sent": sent,
        "received_total": got,
        "missing": sent - got,
        "closed": closed,
        "cpu_percent": cpu,
    }


def report(args, runs: list[dict]) -> None:
    print(
        f"\n{args.members} members, one client and one account each, {args.rate} "
        f"events/s per account ({args.members * args.rate:,}/s offered); "
        f"{args.warmup:g} s warm-up, {args.seconds:g} s window, {args.rounds} "
        f"round(s), medians; loopback, {os.cpu_count()} CPUs shared by all\n"
        "latency = receipt (time.time) − the event's envelope timestamp (ms, "
        "truncated): each figure reads 0–1 ms high, alike for both paths"
    )
    print(
        f"{'path':<18}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}"
        f"{'sent':>10}{'missing':>9}  CPU: server  sandbox  load  machine"
    )
    for name in PATHS:
        mine = [r for r in runs if r["path"] == name]
        if not mine:
            continue

        def med(key, rs=mine):
            values = [r[key] for r in rs if r[key] is not None]
            return statistics.median(values) if values else float("nan")

        cpu = {
            k: statistics.median(r["cpu_percent"][k] for r in mine)
            for k in mine[0]["cpu_percent"]
        }
        print(
            f"{name:<18}{med('events_per_s'):>10,.0f}{med('p50'):>9.1f}"
            f"{med('p99'):>9.1f}{med('p99.9'):>10.1f}{sum(r['sent'] for r in mine):>10,}"
            f"{sum(r['missing'] for r in mine):>9,}  {cpu['server']:>11.0f}%"
            f"{cpu['sandbox']:>8.0f}%{cpu['load']:>5.0f}%{cpu['machine']:>8.0f}%"
        )
    direct = [r for r in runs if r["path"] == "sandbox direct"]
    for name in PATHS[1:] if direct else ():
        adds = [
            (g["p50"] - d["p50"], g["p99"] - d["p99"])
            for d, g in zip(direct, [r for r in runs if r["path"] == name], strict=True)
            if None not in (g["p50"], d["p50"], g["p99"], d["p99"])
        ]
        if adds:
            p50 = statistics.median(a[0] for a in adds)
            p99 = statistics.median(a[1] for a in adds)
            rounds = ", ".join(f"{a:+.1f}/{b:+.1f}" for a, b in adds)
            print(
                f"{name} adds: p50 {p50:+.1f} ms, p99 {p99:+.1f} ms (p50/p99 by round: "
                f"{rounds})"
            )
    print(
        "server CPU: the gateway's web process, the relay's, or the sandbox's for "
        "direct"
    )
    for r in runs:
        if r["failed"] or r["closed"]:
            print(
                f"  {r['path']}: {r['failed']} failed to connect {r['errors']}, "
                f"{r['closed']} closed"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--members", type=int, default=500)
    add("--rate", type=int, default=50, help="events/s per account")
    add("--seconds", type=float, default=8)
    add("--warmup", type=float, default=2)
    add("--rounds", type=int, default=3)
    add("--json", metavar="FILE")
    add("--web-workers", type=int, default=1, help="uvicorn worker processes")
    add(
        "--pinned",
        action="store_true",
        help="the sandbox and the load generator (stand-ins for other machines) on "
        "one half of the CPUs, the server under test (relay or web, its Redis) on "
        "the other",
    )
    add(
        "--paths",
        default=",".join(PATHS),
        help=f"which of {', '.join(PATHS)} to measure (comma-separated)",
    )
    add(
        "--profile",
        metavar="FILE",
        help="then a further gateway window under py-spy (raw stacks into FILE)",
    )
    args = parser.parse_args()
    with Processes() as procs:
        # Sessions nobody uses end after 1 s, not 30: nothing is left over when the
        # next path is measured.
        env, upstream = procs.deployment(
            "orgportal_bench_accounts", ORG_KEY, ACCOUNTS_WS_UPSTREAM_GRACE_SECONDS="1"
        )
        sandbox, sandbox_port = upstream.url, upstream.port
        sandbox_pid = upstream.proc.pid
        web_port = free_port()
        control(sandbox, synth_news=False, pnl_every_seconds=3600)
        print(f"Creating {args.members} brokerage users and members …", flush=True)
        users = create_users(sandbox, args.members)
        keys = link_members(env, users)
        workers = ("--workers", str(args.web_workers)) if args.web_workers > 1 else ()
        web_pid = procs.web(web_port, env, *AS_DEPLOYED, *workers).pid
        load = Load()
        procs.stop_first.append(load.stop)
        common = {"sandbox": sandbox, "sandbox_pid": sandbox_pid}
        common["load_pids"] = [p.pid for p in load.procs]
        relay_port = free_port()
        relay = procs.script(
            "tcp_relay.py", relay_port, str(sandbox_port), answers=False
        )
        relay_pid = relay.pid
        direct = {"name": "sandbox direct", "port": sandbox_port, "pid": sandbox_pid}
        relay = {"name": "byte relay", "port": relay_port, "pid": relay_pid}
        gateway = {"name": "gateway", "port": web_port, "pid": web_pid}
        direct_specs = [(u["access_token"], u["account_ids"][0]) for u in users]
        gateway_specs = [
            (k, u["account_ids"][0]) for k, u in zip(keys, users, strict=True)
        ]
        paths = [
            ({**direct, **common}, direct_specs),
            ({**relay, **common}, direct_specs),
            ({**gateway, **common}, gateway_specs),
        ]
        if args.pinned:
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) < 2:
                parser.error("--pinned needs at least 2 CPUs")
            outside, inside = set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2 :])
            under_test = [*with_descendants(web_pid), relay_pid]
            if procs.own_redis is not None:
                under_test.append(procs.own_redis.pid)
            pin([sandbox_pid, *common["load_pids"], os.getpid()], outside)
            pin(under_test, inside)
        wanted = {p.strip() for p in args.paths.split(",")}
        if not wanted <= set(PATHS):
            parser.error(f"--paths: one or more of {', '.join(PATHS)}")
        paths = [p for p in paths if p[0]["name"] in wanted]
        runs = []
        for n in range(args.rounds):
            for target, specs in paths if n % 2 == 0 else paths[::-1]:
                r = phase(load, target, specs, args)
                runs.append(r)
                print(
                    f"  round {n + 1} {r['path']:<15} {r['clients']} clients "
                    f"(connected in {r['connect_s']:g} s): {r['events_per_s']:,.0f} "
                    f"events/s, p50 {r['p50']} ms, p99 {r['p99']} ms, sent "
                    f"{r['sent']:,}, missing {r['missing']:,}",
                    flush=True,
                )
        report(args, runs)
        if args.profile:
            # A further gateway window with py-spy attached, not in the table.
            args.seconds = PROFILE_S
            target, specs = (
                {**gateway, **common},
                gateway_specs,
            )
            r = phase(load, target, specs, args, py_spy(args.profile, PROFILE_S))
            print(
                f"\ngateway profile: py-spy, {PROFILE_S} s at {args.rate} events/s per "
                f"account ({r['events_per_s']:,.0f} events/s, gateway CPU "
                f"{r['cpu_percent']['server']:.0f}%), raw stacks in {args.profile}; "
                "top frames by own time (share of samples):"
            )
            for frame, share in top_frames(Path(args.profile)):
                print(f"{share:>6.1f}%  {frame}")
        if args.json:
            Path(args.json).write_text(json.dumps(runs, indent=1))
            print(f"raw figures written to {args.json}")


if __name__ == "__main__":
    main()
