"""Market data WebSocket fan-out: the gateway's pooled mode beside a bare relay, in one run.

On loopback, each its own process: the sandbox (upstream), `bench/bare_ws.py` (the
baseline: one upstream connection, `websockets` broadcast, no auth or buffers), the
gateway (uvicorn, one worker, MARKET_WS_MODE=pooled on the sandbox's organization key,
its own Redis when redis-server is installed) and the load generator: 2 processes of a
minimal RFC 6455 client that finds `last_update` by a byte search, no JSON parsing.

1,000 clients (one minute series each, 100 per symbol, 10 symbols) connect to one
server at 1 update/s; the sandbox's rate per symbol is then stepped (10, 25, 50, 100,
200/s; each stream at its own phase of the period, or with --phases aligned all at
the same instant), each step measured over a window after a warm-up; then the other
server. What
is missing is counted against a reference connection straight to the sandbox. Then
member mode: 100 connections (10 members × 10) through the gateway in
MARKET_WS_MODE=member and straight to the sandbox on the members' upstream keys.

    python bench/ws_fanout.py [--quick] [--rates 10,25,50,100,200] [--seconds 8]
                              [--phases spread|aligned] [--json FILE] [--profile FILE]

Needs PostgreSQL (DATABASE_URL, default .../orgportal_bench_ws, recreated; a sqlite:///
URL works too). --profile: py-spy records the gateway (raw stacks into FILE) for 15 s
at 50 updates/s, after that step, and in member mode (FILE.member) after its first
window; the top frames by own time are printed.
"""

import argparse
import json
import os
import statistics
import time
from collections import Counter
from pathlib import Path

import httpx
from _common import AS_DEPLOYED, LOCAL, Processes, free_port, setup_shell
from _measure import cpu_seconds, py_spy, top_frames
from ws_load import BINS, GRACE_S, WORKERS, Load

ORG_KEY = "sandbox-org-key"
PLAN = "ws_fanout"
SYMBOLS = [
    *("NASDAQ:AAPL", "NASDAQ:MSFT", "NASDAQ:NVDA", "NYSE:TSLA", "NYSE:JPM"),
    *("AMEX:SPY", "BINANCE:BTCUSDT", "FX:EURUSD", "CME_MINI:ES1!", "COMEX:GC1!"),
]
PER_MEMBER = 10  # client connections per member
CONNECT_RATE = 1  # updates/s while clients connect
HOLD_P99_MS = 20.0
PROFILE_RATE, PROFILE_S = 50, 15
PHASES = {"spread": "each at its own phase", "aligned": "all at the same instant"}


# --- measuring -------------------------------------------------------------------------


def sandbox_live(target: dict) -> dict:
    return httpx.get(target["sandbox"] + "/_sandbox/live", timeout=30).json()


def gauges(target: dict) -> dict[str, float]:
    """The gateway's conflation and slow-client counters (/metrics), and the frames
    the sandbox dropped for slow upstream readers."""
    conns = sandbox_live(target)["connections"]
    found = {"upstream_dropped": sum(c["dropped"] for c in conns)}
    names = ("orgportal_ws_conflated_total", "orgportal_ws_slow_client_closes_total")
    try:  # an overloaded gateway may not answer in time: those figures are left out
        text = httpx.get(target["metrics"], timeout=5).text if target["metrics"] else ""
    except httpx.HTTPError:
        text = ""
    for name, _, value in (line.partition(" ") for line in text.splitlines()):
        if name in names:
            found[name[13:-6]] = float(value)
    return found


def percentile(hist: Counter, q: float) -> float | None:
    """The middle of the 0.1 ms bin holding the q-quantile."""
    rank, seen = q * (sum(hist.values()) - 1), 0
    for i in sorted(hist):
        seen += hist[i]
        if seen > rank:
            return (i + 0.5) / 10
    return None


def set_rate(target: dict, rate: int, **more) -> None:
    url, body = target["sandbox"] + "/_sandbox/live", {"updates_per_second": rate}
    httpx.post(url, json=body | more).raise_for_status()


def measure(load, target: dict, rate: int, args, seconds: float, spy=None) -> dict:
    """One window at `rate` on the connected clients."""
    set_rate(target, rate)
    before = gauges(target)
    t0 = time.time() + args.warmup
    t1 = t0 + seconds
    load.send([("measure", t0 * 1000, t1 * 1000)] * WORKERS)
    time.sleep(max(0.0, t0 - time.time()))
    profiler = spy(target["pids"]["server"][0]) if spy else None
    pids = {**target["pids"], "machine": [None]}
    cpu0 = {k: sum(map(cpu_seconds, v)) for k, v in pids.items()}
    time.sleep(max(0.0, t1 - time.time()))
    cpu = {k: (sum(map(cpu_seconds, v)) - cpu0[k]) / seconds for k, v in pids.items()}
    got = load.answers(timeout=GRACE_S + 60)
    after = gauges(target)
    if profiler is not None:
        profiler.wait(60)
    ref, hist, clients, closed = Counter(), Counter(), Counter(), Counter()
    for answer in got:
        for total, part in zip((ref, hist, clients, closed), answer, strict=False):
            total.update(part)
    received, timely = sum(a[4] for a in got), sum(a[5] for a in got)
    offered = sum(n * ref[code] for code, n in clients.items())
    return {
        "server": target["name"],
        "rate": rate,
        "seconds": seconds,
        "offered": offered,
        "received": received,
        "missing": offered - timely,
        "deliveries_per_s": received / seconds,
        **{f"p{q}": percentile(hist, q / 100) for q in (50, 90, 99, 99.9)},
        **{k: v - before[k] for k, v in after.items() if k in before},
        "closed_total": sum(closed.values()),
        "close_codes": {str(k): v for k, v in closed.items()},
        "cpu_percent": {k: round(v * 100, 1) for k, v in cpu.items()},
    }


def phase(load, target: dict, specs: list, rates: list, args, profile=None) -> list:
    """Connect every client at CONNECT_RATE, measure each rate in turn, disconnect."""
    set_rate(target, CONNECT_RATE)
    started = time.monotonic()
    opened = load.ask(
        [("open", target["port"], specs[i::WORKERS]) for i in range(WORKERS)]
    )
    clients = sum(o["opened"] for o in opened)
    connect = {"clients": clients, "failed": len(specs) - clients}
    connect["errors"] = [e for o in opened for e in o["errors"]][:3]
    connect["connect_s"] = round(time.monotonic() - started, 1)
    results, closed, first = [], 0, gauges(target)
    try:
        for rate in rates:
            r = {**measure(load, target, rate, args, args.seconds), **connect}
            r["closes"], closed = r["closed_total"] - closed, r["closed_total"]
            show(r)
            results.append(r)
            if profile is not None and rate == profile["rate"]:
                spy = py_spy(profile["file"], PROFILE_S)
                profile["run"] = measure(load, target, rate, args, PROFILE_S, spy)
                profile["top_own"] = top_frames(Path(profile["file"]))
    finally:
        load.ask([("close",)] * WORKERS)
        deadline = time.monotonic() + 15  # until only the reference connection is left
        while len(sandbox_live(target)["connections"]) > 1:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    last = gauges(target)  # the whole phase's, should a step's be missing
    for r in results:
        r["phase"] = {k: v - first[k] for k, v in last.items() if k in first}
        r["phase"].pop("upstream_dropped")  # its connections are gone by now
    return results


def show(r: dict) -> None:
    failed = f"; {r['failed']} failed to connect: {r['errors']}" if r["failed"] else ""
    print(
        f"  {r['rate']:>4}/s {r['server']:<21} {r['clients']:>5} clients (connected in "
        f"{r['connect_s']:g} s): {r['deliveries_per_s']:>7,.0f} deliveries/s, p50 "
        f"{ms(r['p50'])} ms, p99 {ms(r['p99'])} ms, missing "
        f"{r['missing']:,} (upstream dropped {r['upstream_dropped']:,.0f}), closes "
        f"{r['closes']}{failed}",
        flush=True,
    )


def fmt(value, spec: str, width: int = 0) -> str:
    return f"{'–' if value is None else format(value, spec):>{width}}"


def ms(value: float | None, width: int = 0) -> str:
    """A latency; past the histogram's last bin, only a floor is known."""
    text = fmt(value, ".1f") if (value or 0) < BINS / 10 - 1 else ">10000"
    return f"{text:>{width}}"


def show_profile(name: str, profile: dict) -> None:
    run = profile["run"]
    print(
        f"\ngateway ({name}) profile: py-spy, {PROFILE_S} s at {profile['rate']} "
        f"updates/s ({run['deliveries_per_s']:,.0f} deliveries/s, gateway CPU "
        f"{run['cpu_percent']['server']:.0f}%), raw stacks in {profile['file']}; "
        "top frames by own time (share of samples):"
    )
    for frame, share in profile["top_own"]:
        print(f"{share:>6.1f}%  {frame}")


def held(r: dict) -> bool:
    ok = r["p99"] is not None and r["p99"] <= HOLD_P99_MS
    return ok and r["missing"] <= 0 and not r["closes"]


# --- setup and report ------------------------------------------------------------------


def create_members(env: dict, count: int) -> list[list[str]]:
    """`count` members on the plan: [gateway key, upstream key] each."""
    setup = (
        "import json\nfrom members.crypto import decrypt\n"
        "from billing.services import ledger\nfrom members.services import operations\n"
        "from members.services.plans import plans_sync\n"
        f"plans_sync(); ledger.credits_purchase(credits={count + 10}, actor='bench')\n"
        f"for i in range({count}):\n"
        f"    o = operations.member_create(uid=f'ws{{i}}', plan='{PLAN}', actor='b')\n"
        "    print(json.dumps([o.api_key, decrypt(o.member.upstream_key_encrypted)]))\n"
    )
    printed = setup_shell(env, setup)
    return [json.loads(ln) for ln in printed.splitlines() if ln.startswith("[")]


def report(args, bare: list, gate: list, members: list) -> None:
    print(
        f"\n{args.clients:,} clients ({args.clients // len(SYMBOLS)} per symbol, "
        f"{len(SYMBOLS)} symbols) from {WORKERS} load processes, connected at "
        f"{CONNECT_RATE}/s (bare relay in {bare[0]['connect_s']:g} s, gateway in "
        f"{gate[0]['connect_s']:g} s); per step {args.warmup:g} s warm-up, "
        f"{args.seconds:g} s window; the sandbox's streams tick {PHASES[args.phases]}; "
        f"loopback, {os.cpu_count()} CPUs shared by all\n"
        "latency = receipt (time.time) − upstream last_update (whole ms, truncated): "
        "each figure reads 0–1 ms high, alike for both servers"
    )
    cols = "deliv/s  p50 ms  p99 ms conflated   missing closes   CPU"
    names = f"{'bare relay (websockets broadcast)':^57}|{'gateway, pooled mode':^57}"
    print(f"{'':17}|{names}|\n upd/s  offered/s| {cols} | {cols} |  load  machine")
    for b, g in zip(bare, gate, strict=True):
        cells = []
        for r in (b, g):
            c = r.get("conflated")
            conflated = "–" if r is b else "?" if c is None else f"{c:,.0f}"
            cells.append(
                f"{r['deliveries_per_s']:>8,.0f}{ms(r['p50'], 8)}{ms(r['p99'], 8)}"
                f"{conflated:>10}{r['missing']:>10,}{r['closes']:>7}"
                f"{r['cpu_percent']['server']:>5.0f}%"
            )
        cpu = [r["cpu_percent"] for r in (b, g)]
        load = statistics.mean(c["load"] for c in cpu)
        machine = statistics.mean(c["machine"] for c in cpu)
        print(
            f"{b['rate']:>6}{b['offered'] / b['seconds']:>11,.0f}|{cells[0]} |"
            f"{cells[1]} |{load:>5.0f}%{machine:>8.0f}%"
        )
    sandbox = max(r["cpu_percent"]["sandbox"] for r in bare + gate)
    print(
        "missing: updates sent upstream in the window, not received by 1.5 s after "
        "it; CPU in the window, % of one core: the server process; load: the load "
        f"generator's processes; machine: all busy time (of {os.cpu_count() * 100}%; "
        f"the sandbox: ≤ {sandbox:.0f}%), mean of the two runs; ?: /metrics did not "
        "answer within 5 s"
    )
    totals = gate[0]["phase"]
    per = [
        r["cpu_percent"]["server"] / 100 / max(r["deliveries_per_s"], 1) * 1e6
        for r in (bare[0], gate[0])
    ]
    print(
        f"gateway over its whole phase: {totals.get('conflated', 0):,.0f} conflated, "
        f"{totals.get('slow_client_closes', 0):,.0f} slow-client closes; server CPU "
        f"per delivery at {bare[0]['rate']}/s: bare relay {per[0]:.0f} µs, gateway "
        f"{per[1]:.0f} µs"
    )
    best = [
        max((r["rate"] for r in rs if held(r)), default=None) for rs in (bare, gate)
    ]
    ratio = fmt(best[1] / best[0] if best[0] and best[1] else None, ".2f")
    held_at = [f"{rate}/s" if rate else "none" for rate in best]
    peak = [max(r["deliveries_per_s"] for r in runs) for runs in (bare, gate)]
    print(
        f"highest step held (p99 ≤ {HOLD_P99_MS:g} ms, nothing missing, no closes): "
        f"bare relay {held_at[0]}, gateway {held_at[1]}; gateway / "
        f"bare {ratio}x\npeak deliveries/s: bare relay {peak[0]:,.0f}, gateway "
        f"{peak[1]:,.0f}; gateway / bare {peak[1] / max(peak[0], 1):.2f}x"
    )
    if not members:
        return
    n = members[0][0]["clients"]
    print(
        f"\nmember mode: {n} connections ({n // PER_MEMBER} members × {PER_MEMBER}), "
        f"{members[0][0]['rate']} updates/s, {args.seconds:g} s window, "
        f"{len(members)} round(s): medians\n"
        f"{'path':<24}{'deliv/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'missing':>9}{'CPU':>6}"
    )
    for i, label in enumerate(("sandbox direct", "gateway, member mode")):
        runs = [pair[i] for pair in members]
        keys = ("deliveries_per_s", "p50", "p99", "missing")
        med = [statistics.median(r[k] for r in runs) for k in keys]
        cpu = statistics.median(r["cpu_percent"]["server"] for r in runs)
        print(
            f"{label:<24}{med[0]:>9,.0f}{med[1]:>8.1f}{med[2]:>8.1f}{med[3]:>9,.0f}"
            f"{cpu:>5.0f}%"
        )
    p50, p99 = ([g[k] - d[k] for d, g in members] for k in ("p50", "p99"))
    rounds = ", ".join(f"{a:+.1f}/{b:+.1f}" for a, b in zip(p50, p99, strict=True))
    print(
        f"gateway adds: p50 {statistics.median(p50):+.1f} ms, p99 "
        f"{statistics.median(p99):+.1f} ms (p50/p99 by round: {rounds}); CPU: the "
        "gateway's, or the sandbox's for direct"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--rates", default="10,25,50,100,200", help="updates/s per symbol, in order")
    add("--seconds", type=float, default=8, help="measured window per step")
    add("--warmup", type=float, default=2, help="before each window")
    add("--clients", type=int, default=1000, help="a multiple of 10")
    add("--member-rate", type=int, default=10)
    add("--member-rounds", type=int, default=2)
    add(
        "--phases",
        choices=("spread", "aligned"),
        default="spread",
        help="the sandbox's streams tick at their own phase, or all at once",
    )
    add("--quick", action="store_true", help="500 clients, 10 and 50/s, 3 s windows")
    add("--json", metavar="FILE", help="write the raw figures here")
    add("--profile", metavar="FILE", help="py-spy raw stacks of the gateway at 50/s")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.seconds, args.warmup = "10,50", 3, 1
        args.clients, args.member_rounds = 500, 1
    rates = [int(r) for r in args.rates.split(",")]
    with Processes() as procs:
        # Streams nobody wants stop after 1 s, not 30: no upstream traffic is left
        # over when the next phase is measured.
        env, upstream = procs.deployment(
            "orgportal_bench_ws",
            ORG_KEY,
            MARKET_WS_POOL_KEY=ORG_KEY,
            MARKET_WS_POOL_GRACE_SECONDS="1",
        )
        sandbox, sandbox_port = upstream.url, upstream.port
        sandbox_pid = upstream.proc.pid
        bare_port, pooled_port, member_port = free_port(), free_port(), free_port()
        plan = {"name": PLAN, "price": 1, "feature": "mega", "rate_limit": 100_000}
        plan |= {"quota": 0, "websocket_symbols": 12, "websocket_connections": 20}
        httpx.post(sandbox + "/_sandbox/plans", json=plan).raise_for_status()
        count = max(-(-args.clients // PER_MEMBER), 10)
        print(f"Creating {count} members …", flush=True)
        keys = create_members(env, count)
        upstream = [sandbox.replace("http:", "ws:"), ORG_KEY, ",".join(SYMBOLS)]
        pids = {
            mode: procs.web(port, {**env, "MARKET_WS_MODE": mode}, *AS_DEPLOYED).pid
            for mode, port in (("pooled", pooled_port), ("member", member_port))
        }
        # Answers 426 to HTTP: it speaks WebSocket only.
        bare_pid = procs.script("bare_ws.py", bare_port, *upstream).pid
        load = Load()
        procs.stop_first.append(load.stop)

        workers = [p.pid for p in load.procs]

        def target(name: str, port: int, pid: int, metrics: bool = False) -> dict:
            pids = {"server": [pid], "load": workers, "sandbox": [sandbox_pid]}
            url = f"http://{LOCAL}:{port}/metrics" if metrics else None
            return dict(name=name, port=port, pids=pids, metrics=url, sandbox=sandbox)

        direct = target("sandbox direct", sandbox_port, sandbox_pid)
        set_rate(direct, CONNECT_RATE, phases=args.phases)
        ref = load.ask([("open", sandbox_port, [(ORG_KEY, SYMBOLS)], True)])[0]
        if not ref["opened"]:
            raise SystemExit(f"the reference connection failed: {ref['errors']}")
        codes = [[SYMBOLS[j % len(SYMBOLS)]] for j in range(args.clients)]
        bare_specs = [("-", c) for c in codes]
        bare = phase(
            load, target("bare relay", bare_port, bare_pid), bare_specs, rates, args
        )
        specs = [(keys[j // PER_MEMBER][0], c) for j, c in enumerate(codes)]
        pooled = target("gateway", pooled_port, pids["pooled"], True)
        profile = {"file": args.profile, "rate": PROFILE_RATE} if args.profile else None
        gate = phase(load, pooled, specs, rates, args, profile)
        few = [(keys[j // PER_MEMBER], codes[j]) for j in range(10 * PER_MEMBER)]
        member = target("gateway, member mode", member_port, pids["member"], True)
        paths = [(direct, [(k[1], c) for k, c in few])]
        paths.append((member, [(k[0], c) for k, c in few]))
        members, member_profile = [], None
        if args.profile:
            member_profile = {
                "file": args.profile + ".member",
                "rate": args.member_rate,
            }
        for n in range(args.member_rounds):
            pair = {}
            for t, s in paths if n % 2 == 0 else paths[::-1]:
                spied = member_profile if t is member and n == 0 else None
                pair[t["name"]] = phase(load, t, s, [args.member_rate], args, spied)[0]
            members.append((pair[direct["name"]], pair[member["name"]]))
        report(args, bare, gate, members)
        for name, spied in (("pooled", profile), ("member mode", member_profile)):
            if spied is not None and "top_own" in spied:
                show_profile(name, spied)
        if args.json:
            figures = {"clients": args.clients, "symbols": SYMBOLS, "bare": bare}
            figures |= {"gateway": gate, "profile": profile, "warmup": args.warmup}
            figures["member_profile"] = member_profile
            figures["member"] = [{"direct": d, "gateway": g} for d, g in members]
            Path(args.json).write_text(json.dumps(figures, indent=1))
            print(f"raw figures written to {args.json}")


if __name__ == "__main__":
    main()
