from collections.abc import Callable, Iterator

import httpx
import pytest

from members.upstream import OrgClient
from sandbox.server import SandboxServer
from tests.members.upstream.helpers import ORG_KEY, client_options


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(org_key=ORG_KEY, seed=7) as server:
        yield server


@pytest.fixture
def control(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The sandbox's control API, to inject faults and inspect its state."""
    with httpx.Client(base_url=f"{sandbox.url}/_sandbox", timeout=5) as client:
        yield client


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(
    sandbox: SandboxServer, sleeps: list[float], closing
) -> Callable[..., OrgClient]:
    def make(**overrides: object) -> OrgClient:
        options = client_options(sleeps, **{"base_url": sandbox.url, **overrides})
        return closing(OrgClient(**options))

    return make


@pytest.fixture
def client(make_client: Callable[..., OrgClient]) -> OrgClient:
    return make_client()
