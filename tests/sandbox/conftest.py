from collections.abc import Iterator

import httpx
import pytest

from sandbox.server import SandboxServer
from tests.conftest import ORG_KEY


@pytest.fixture
def org(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """The Organization API and, without a key, the control API."""
    headers = {"Authorization": f"Bearer {ORG_KEY}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=5) as client:
        yield client
