"""Measuring helpers of the benchmark scripts: CPU time, py-spy profiles, wrk runs."""

import os
import re
import subprocess
from collections import Counter
from pathlib import Path

from _common import PY, QUIET, ROOT


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time so far of a process (all its threads), or busy time of the machine."""
    if pid is None:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
        used = sum(ticks) - ticks[3] - ticks[4]  # less idle and iowait
    else:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        used = int(fields[11]) + int(fields[12])
    return used / os.sysconf("SC_CLK_TCK")


def pin(pids, cpus) -> None:
    """Every thread of each process onto `cpus` (None: all of this machine's)."""
    cpus = cpus or os.sched_getaffinity(0)
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except OSError:  # a thread that just ended
                pass


def with_descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a server's worker processes)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def cpu_by_process(groups: dict[str, int | str]) -> dict[str, float]:
    """CPU time so far of each group: a pid with all its descendants (an int), or
    every process whose command line starts with a word (a str: "postgres")."""
    stats, parents, commands = {}, {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        pid = int(entry.name)
        stats[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        parents[pid], commands[pid] = int(fields[1]), command

    def descends(pid: int, root: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parents.get(pid, 0)
        return False

    totals = {}
    for name, group in groups.items():
        if isinstance(group, str):
            pids = [p for p, c in commands.items() if c.startswith(group)]
        else:
            pids = [p for p in stats if descends(p, group)]
        totals[name] = sum(stats[p] for p in pids)
    return totals


def py_spy(out: str, seconds: int, rate: int = 100, nonblocking: bool = True):
    """What starts `py-spy record` of a process (its pid the argument) for `seconds`,
    `rate` samples a second, raw stacks into `out`; `nonblocking`: without pausing it."""
    here = Path(PY).parent / "py-spy"
    command = [str(here) if here.exists() else "py-spy", "record"]
    command += ["--nonblocking"] if nonblocking else []
    command += ["--format", "raw", "-r", str(rate), "-d", str(seconds), "-o", out, "-p"]
    return lambda pid: subprocess.Popen([*command, str(pid)], **QUIET)


def top_frames(raw: Path, count: int = 15) -> list[tuple[str, float]]:
    """Share of the samples per leaf frame (own time), by function and line."""
    own = Counter()
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            leaf = stack.rpartition(";")[2].replace(str(ROOT) + "/", "")
            name, _, where = leaf.partition(" (")
            own[f"{name} ({where.rpartition('site-packages/')[2]}"] += int(samples)
    total = sum(own.values()) or 1
    return [(frame, n / total * 100) for frame, n in own.most_common(count)]


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    """wrk's "1.23ms" / "850.00us" / "1.02s" in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(match[1]) * _UNITS[match[2]] if match else float("nan")


def wrk(
    url: str,
    key: str,
    connections: int,
    seconds: int,
    *options: str,
    threads: int = 1,
    cpus: set[int] | None = None,
) -> dict[str, float]:
    """One wrk run with the bearer `key` (more wrk `options`; on `cpus` when given):
    requests, requests/s, p50 and p99 in ms, answers that were not 2xx or 3xx."""
    command = ["wrk", *options, f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "-H", f"Authorization: Bearer {key}", url]
    output = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    result = {"requests": float(count[1]), "rps": float(rate[1])}
    for label in ("50", "99"):
        match = re.search(rf"^\s+{label}%\s+(\S+)", output, re.MULTILINE)
        result[f"p{label}"] = _ms(match[1]) if match else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["errors"] = float(errors[1]) if errors else 0.0
    return result
