"""Paths, messages, the environment children get, and the one-launcher-per-checkout
lock with its logs."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"
RUN_DIR = ROOT / ".run"
LOG_DIR = RUN_DIR / "logs"
CREDENTIALS = RUN_DIR / "credentials.json"
LOCK = RUN_DIR / "run.lock"
MANAGE = str(ROOT / "manage.py")

READY_TIMEOUT_SECONDS = 90
STOP_GRACE_SECONDS = 10
LOG_TAIL_LINES = 30
LOGS_KEPT = 3  # earlier runs' logs: web.log.1 (the last run) to web.log.3


def web_command(python: str, port: int, *options: str) -> list[str]:
    """The web process (Django and the gateways) under uvicorn on loopback `port`, with
    uvicorn's `options`."""
    return [
        python,
        "-m",
        "uvicorn",
        "orgportal.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def worker_command(python: str, *options: str) -> list[str]:
    """The Celery worker of the project, with `options`."""
    return [python, "-m", "celery", "-A", "orgportal", "worker", *options]


def solo_worker_command(python: str, *options: str) -> list[str]:
    """One Celery worker process that runs its tasks itself (no pool), quiet on the
    cluster's chatter: what tests and benchmarks start, with `options` (its hostname,
    its queues)."""
    return worker_command(
        python,
        "--pool=solo",
        *options,
        "--without-gossip",
        "--without-mingle",
        "--loglevel=INFO",
    )


def say(message: str = "") -> None:
    print(message, flush=True)


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


# --- environment ----------------------------------------------------------------------


def load_dotenv() -> None:
    """Read .env with the settings' own rules (orgportal/envfile.py, standard library
    only), so run.py and Django agree on ports and URLs and on what is malformed.

    Variables already in the environment win, as in the settings.
    """
    # By path: importing the orgportal package would import Django and Celery.
    spec = importlib.util.spec_from_file_location(
        "orgportal_envfile", ROOT / "orgportal" / "envfile.py"
    )
    envfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(envfile)
    try:
        values = envfile.read(ROOT / ".env")
    except envfile.EnvFileError as exc:
        fail(str(exc))
    for key, value in values.items():
        os.environ.setdefault(key, value)


def port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        fail(f"{name}={raw!r} is not a port number (1-65535)")
    return int(raw)


def child_env() -> dict[str, str]:
    # Unbuffered, so a child's log is complete up to the moment it dies.
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def ensure_run_dirs() -> None:
    for path in (RUN_DIR, LOG_DIR, RUN_DIR / "broker", RUN_DIR / "broker-processed"):
        path.mkdir(parents=True, exist_ok=True)


# --- one launcher per checkout --------------------------------------------------------


class AlreadyRunning(Exception):
    """Another launcher holds the lock; the message names it."""


def acquire_lock(path: Path, info: dict):
    """Hold `path` locked (fcntl.flock) for as long as the returned file stays open,
    with `info` (pid, ports, start time) written in it for a second launcher to show.

    The kernel drops the lock when its holder dies, however it dies, so a lock file
    left by a dead launcher is simply taken over; its contents are never trusted.
    """
    import fcntl

    handle = open(path, "a+")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        text = handle.read()
        handle.close()
        raise AlreadyRunning(describe_holder(text)) from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(info) + "\n")
    handle.flush()
    return handle


def describe_holder(text: str) -> str:
    try:
        info = json.loads(text)
        pid = int(info["pid"])
    except (ValueError, KeyError, TypeError):
        return (
            "another `python3 run.py` is starting from this checkout; wait for it, "
            "or stop it first"
        )
    return (
        f"orgportal is already running from this checkout (pid {pid}, web port "
        f"{info.get('web_port')}, sandbox port {info.get('sandbox_port')}, since "
        f"{info.get('started', '?')}). A second one on the same data in .run/ would "
        f"break it: stop it first (Ctrl-C in its terminal, or kill {pid}), or run "
        "the other copy from another checkout."
    )


def rotate_logs(path: Path, keep: int = LOGS_KEPT) -> None:
    """web.log -> web.log.1 -> ... -> web.log.<keep>: the last runs' logs survive."""
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    if path.exists():
        path.replace(path.with_name(f"{path.name}.1"))
