"""Helpers shared by the benchmark scripts: loopback ports, waiting, a fresh database,
the environment of a deployment on loopback, and the child processes a benchmark
starts (redis-server, the sandbox, the web process) and stops."""

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks run as files from bench/
    sys.path.insert(0, str(ROOT))

from launcher.common import web_command as launcher_web_command  # noqa: E402

PY = sys.executable
LOCAL = "127.0.0.1"
# uvicorn options of the web process as deployed.
AS_DEPLOYED = ("--loop", "uvloop", "--http", "httptools")
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def database_url(name: str) -> str:
    """DATABASE_URL, else the database `name` on the local PostgreSQL."""
    return os.environ.get("DATABASE_URL", f"postgres://postgres@{LOCAL}:5432/{name}")


def deployment_env(redis_url: str = "", **env: str) -> dict[str, str]:
    """os.environ with `env`, and the secrets a deployment must set (orgportal refuses
    to start on PostgreSQL without them): the environment's own if it has them, else
    ones generated once for the benchmarks into .run/bench/, so a kept benchmark
    database stays readable from run to run. REDIS_URL is `redis_url`, or unset (the
    in-process fallbacks) when that is empty."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from orgportal.keys import embedded_secrets_file

    # Loopback speaks plain HTTP: a deployment's redirect to HTTPS would answer 301.
    plain_http = {"SECURE_SSL_REDIRECT": "false"}
    env = {
        **embedded_secrets_file(ROOT / ".run" / "bench"),
        **plain_http,
        **os.environ,
        **env,
        "REDIS_URL": redis_url,
    }
    if not redis_url:
        env.pop("REDIS_URL")
    return env


def sandbox_env(db_name: str, sandbox_url: str, org_key: str, **env: str) -> dict:
    """A deployment on the database `database_url(db_name)` whose upstreams (the
    Organization API, market data, Aries) are all the sandbox at `sandbox_url`, started
    with the same organization key; metrics open to loopback, logging warnings only;
    `env` as `deployment_env` takes it."""
    return deployment_env(
        DATABASE_URL=database_url(db_name),
        SANDBOX_ORG_KEY=org_key,
        UPSTREAM_ORG_URL=sandbox_url,
        UPSTREAM_ORG_KEY=org_key,
        UPSTREAM_MARKET_URL=sandbox_url,
        UPSTREAM_ARIES_URL=sandbox_url,
        UPSTREAM_ARIES_WS_URL=sandbox_url.replace("http:", "ws:") + "/v1/accounts/ws",
        METRICS_ALLOWED_IPS=LOCAL,
        LOG_LEVEL="WARNING",
        **env,
    )


def web_command(python: str, port: int, *extra: str) -> list[str]:
    """The web process (Django and the gateways) under uvicorn, quiet: the launcher's
    command line with no access log."""
    return launcher_web_command(
        python, port, "--no-access-log", "--log-level", "warning", *extra
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
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


def manage(
    env: dict, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """`manage.py ARGS` in `env`, `stdin` its input, its output captured as text."""
    return subprocess.run(
        [PY, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
    )


def setup_shell(env: dict, code: str, stdin: str | None = None) -> str:
    """What `code` run by `manage.py shell` printed; the benchmark ends if it fails."""
    done = manage(env, "shell", "-c", code, stdin=stdin)
    if done.returncode:
        raise SystemExit(f"member setup failed:\n{done.stderr}")
    return done.stdout


def ledgercheck(env: dict) -> str:
    """What `manage.py ledgercheck` says of the database in `env`."""
    check = manage(env, "ledgercheck")
    return (check.stdout or check.stderr).strip()


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


@dataclasses.dataclass(frozen=True)
class Sandbox:
    port: int
    url: str
    proc: subprocess.Popen


class Processes:
    """The child processes of a benchmark, output discarded, all stopped when the
    `with` block ends (also on SIGTERM)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.stop_first: list[Callable[[], None]] = []  # what else to stop, first
        self.own_redis: subprocess.Popen | None = None

    def __enter__(self) -> "Processes":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that __exit__ runs
        return self

    def __exit__(self, *exc: object) -> None:
        for stop in self.stop_first:
            stop()
        stop_processes(self.procs)

    def start(self, command: list[str], env: dict | None = None) -> subprocess.Popen:
        self.procs.append(subprocess.Popen(command, cwd=ROOT, env=env, **QUIET))
        return self.procs[-1]

    def redis(self) -> str:
        """Its own redis-server on a free loopback port, no persistence, so nothing
        else on the machine shares it: its URL, or "" when redis-server is not
        installed."""
        if not shutil.which("redis-server"):
            return ""
        port = str(free_port())
        command = ["redis-server", "--bind", LOCAL, "--port", port, "--save", ""]
        self.own_redis = self.start(command)
        return f"redis://{LOCAL}:{port}/0"

    def deployment(
        self, db_name: str, org_key: str, redis_url: str | None = None, **env: str
    ) -> tuple[dict, Sandbox]:
        """A fresh database (see `migrate`), Redis at `redis_url` (None: its own, when
        redis-server is installed) and the sandbox as every upstream (`sandbox_env`,
        `env` added): the web process's environment, and the sandbox."""
        if redis_url is None:
            redis_url = self.redis()
        port = free_port()
        url = f"http://{LOCAL}:{port}"
        env = sandbox_env(db_name, url, org_key, redis_url=redis_url, **env)
        migrate(env)
        return env, Sandbox(port, url, self.sandbox(port, env))

    def sandbox(self, port: int, env: dict) -> subprocess.Popen:
        """The sandbox (`manage.py sandbox`) on `port`, once it answers."""
        proc = self.start([PY, "manage.py", "sandbox", "--port", str(port)], env)
        wait_http(f"http://{LOCAL}:{port}/")
        return proc

    def script(self, name: str, port: int, *args: str, answers: bool = True):
        """`bench/NAME PORT ARGS` (a server of the benchmarks), once it answers HTTP
        on `port` (unless `answers` is false: it does not speak HTTP)."""
        proc = self.start([PY, str(ROOT / "bench" / name), str(port), *args])
        if answers:
            wait_http(f"http://{LOCAL}:{port}/")
        return proc

    def web(self, port: int, env: dict, *uvicorn: str) -> subprocess.Popen:
        """The web process on `port` (`uvicorn` options added), once it answers."""
        proc = self.start(web_command(PY, port, *uvicorn), env)
        wait_http(f"http://{LOCAL}:{port}/healthz")
        return proc


def migrate(env: dict) -> None:
    """A fresh database where `env` points (PostgreSQL: dropped and created; SQLite: its
    file removed), migrated."""
    print("Preparing a fresh database …", flush=True)
    url = env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        prepare_database(url)
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
