"""Helpers shared by the benchmark scripts: loopback ports, waiting, a fresh database."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]


def deployment_env(**env: str) -> dict[str, str]:
    """os.environ with `env`, and the secrets a deployment must set (orgportal refuses
    to start on PostgreSQL without them): the environment's own if it has them, else
    ones generated once for the benchmarks into .run/bench/, so a kept benchmark
    database stays readable from run to run."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from orgportal.keys import embedded_secrets_file

    # Loopback speaks plain HTTP: a deployment's redirect to HTTPS would answer 301.
    plain_http = {"SECURE_SSL_REDIRECT": "false"}
    return {
        **embedded_secrets_file(ROOT / ".run" / "bench"),
        **plain_http,
        **os.environ,
        **env,
    }


def web_command(python: str, port: int, *extra: str) -> list[str]:
    """The web process (Django and the gateways) under uvicorn, one worker, quiet."""
    return [
        python,
        "-m",
        "uvicorn",
        "orgportal.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        *extra,
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def prepare_database(url: str) -> None:
    """Drop and create the database named by a postgres:// URL."""
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def stop_processes(procs: list[subprocess.Popen], timeout: float = 10) -> None:
    """SIGTERM every process, then SIGKILL what has not exited after `timeout`."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
