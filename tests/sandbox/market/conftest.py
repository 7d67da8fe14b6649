import datetime as dt
from collections.abc import Callable, Iterator

import httpx
import pytest

from orgportal import clock
from sandbox.server import SandboxServer
from tests.conftest import ORG_KEY
from tests.sandbox.helpers import member_key
from tests.sandbox.market.helpers import T0


@pytest.fixture(scope="package")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(org_key=ORG_KEY, seed=7) as running:
        yield running


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    server.state.reset()
    yield server
    server.state.reset()


@pytest.fixture
def frozen() -> Iterator[dt.datetime]:
    clock.freeze(T0)
    yield T0
    clock.reset()


@pytest.fixture
def connect(sandbox: SandboxServer, closing) -> Callable[[str | None], httpx.Client]:
    """connect(key) -> an httpx client calling the market API as that member."""

    def make(key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return closing(httpx.Client(base_url=sandbox.url, headers=headers, timeout=5))

    return make


@pytest.fixture
def mega(org: httpx.Client, connect) -> httpx.Client:
    return connect(member_key(org, "mega-member", "mega"))


@pytest.fixture
def pro(org: httpx.Client, connect) -> httpx.Client:
    return connect(member_key(org, "pro-member", "pro"))
