"""A real web process (uvicorn on 127.0.0.1) for tests that need process boundaries:
several processes on one database, or a process killed mid-request."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

from launcher.common import web_command

ROOT = Path(__file__).resolve().parents[1]


# Marks of tests that run several web processes on one PostgreSQL database and Redis.
MULTIPROCESS = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"),
        reason="needs PostgreSQL and Redis",
    ),
]


def web_env(sandbox, settings, **extra: str) -> dict:
    """The environment of a web process on this test's PostgreSQL database, with the
    sandbox as both upstreams and this run's Redis key prefix."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "UPSTREAM_ORG_URL": sandbox.url,
        "UPSTREAM_MARKET_URL": sandbox.url,
        "UPSTREAM_ORG_KEY": sandbox.state.org_key,
        "LOG_LEVEL": "WARNING",
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        **extra,
    }


class Web:
    """One uvicorn web process, started with `env`, ready once /healthz answers."""

    def __init__(self, env: dict, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            web_command(sys.executable, port, "--log-level", "warning"),
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.2)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
