import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable_redis_url() -> str | None:
    """REDIS_URL (a local Redis without it) when it answers a ping; else None."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None
    return url


class ThreadedServer:
    """The real web application under uvicorn, in a thread of the test process."""

    def __init__(self, app) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def web_server(settings) -> Iterator[ThreadedServer]:
    """orgportal's web application (gateways included) served while the fixture that
    yields from this lasts, usage flushed often."""
    from orgportal.asgi import application

    settings.USAGE_FLUSH_INTERVAL = 0.2
    server = ThreadedServer(application).start()
    yield server
    server.stop()


@pytest.fixture
def web(transactional_db, sandbox, settings):
    """orgportal's web process (gateway included) against the sandbox upstream."""
    settings.UPSTREAM_MARKET_URL = sandbox.url
    yield from web_server(settings)


@pytest.fixture
def member_key(transactional_db, sandbox):
    """Create a member on a plan through the real services; return its gateway key."""
    from billing.services import ledger
    from members.services import operations
    from members.services.plans import plans_sync

    plans_sync()
    ledger.credits_purchase(credits=1000, actor="tests")

    def make(uid: str, plan: str = "pro") -> str:
        return operations.member_create(uid=uid, plan=plan, actor="tests").api_key

    return make
