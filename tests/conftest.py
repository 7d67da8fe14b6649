import contextlib
import os
import socket
import uuid

import pytest
from rest_framework.test import APIClient

from members import caches
from members.services import cache_events
from orgportal import clock
from sandbox.server import SandboxServer
from tests.migrations import apps_before
from tests.times import T0

ORG_KEY = "test-org-key"
# Redis keys of this run: member ids restart with every test database, so a shared Redis
# must not remember an earlier run's counters.
REDIS_PREFIX = f"orgportal-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session", autouse=True)
def _redis_keys_removed_after_the_run():
    """Leave a shared Redis as it was found."""
    yield
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"{REDIS_PREFIX}:*", count=1000):
            client.delete(key)


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxServer(host="127.0.0.1", port=0, org_key=ORG_KEY, seed=7)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated(settings, request):
    """Every test starts with the real clock, default upstream settings for the sandbox,
    and retries that do not sleep for long."""
    clock.reset()
    caches.caches_reset()  # rows cached by an earlier test's database are gone
    settings.UPSTREAM_ORG_KEY = ORG_KEY
    settings.REDIS_KEY_PREFIX = REDIS_PREFIX
    settings.UPSTREAM_TIMEOUT = 1.0
    settings.UPSTREAM_CONNECT_TIMEOUT = 0.5
    settings.UPSTREAM_BACKOFF_BASE = 0.001
    settings.UPSTREAM_BACKOFF_CAP = 0.01
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # /metrics as the embedded default serves it (loopback, no token) on any database,
    # so a test can read the counters through the test client.
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["127.0.0.0/8", "::1/128"]
    yield
    clock.reset()


@pytest.fixture
def sandbox(sandbox_server, settings):
    """The sandbox upstream, fresh for this test."""
    sandbox_server.state.reset()
    settings.UPSTREAM_ORG_URL = sandbox_server.url
    yield sandbox_server
    sandbox_server.state.reset()


@pytest.fixture
def frozen():
    """A controllable clock shared by orgportal and the in-process sandbox."""
    clock.freeze(T0)
    return clock


@pytest.fixture
def changed():
    """Member ids announced to the gateways (members.services.cache_events)."""
    seen: list[int] = []
    cache_events.listen(seen.append)
    yield seen
    cache_events.unlisten(seen.append)


@pytest.fixture
def closing():
    """closing(thing) -> thing, whose close() runs when the test ends."""
    with contextlib.ExitStack() as stack:

        def register(thing):
            stack.callback(thing.close)
            return thing

        yield register


@pytest.fixture
def closed_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def old_apps(request, transactional_db):
    """The database as it was before the test module's `MOVE` (tests.migrations), and
    the models of then; the latest schema again afterwards."""
    with apps_before(request.module.MOVE) as apps:
        yield apps


@pytest.fixture
def service_token(db):
    """A token with every scope, so a test exercises the operation, not the scopes."""
    from members.scopes import ALL_SCOPES
    from members.services.keys import service_token_create

    _, token = service_token_create(name="tests", scopes=ALL_SCOPES, actor="tests")
    return token


@pytest.fixture
def scoped_api(db):
    """An API client factory: `scoped_api("read", "members")` authenticates with a new
    token holding exactly those scopes."""
    from members.services.keys import service_token_create

    def make(*scopes: str) -> APIClient:
        _, token = service_token_create(
            name=f"tests-{'-'.join(scopes) or 'none'}", scopes=scopes, actor="tests"
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def api(service_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_token}")
    return client


@pytest.fixture
def funded(db, sandbox):
    """A wallet with 1,000 credits bought (at 0.90 USD)."""
    from billing.services.ledger import credits_purchase
    from members.services.plans import plans_sync

    plans_sync()
    return credits_purchase(credits=1000, actor="tests")
