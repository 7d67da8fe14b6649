from collections.abc import Iterator

import pytest

from orgportal import clock
from sandbox.server import SandboxServer
from tests.conftest import ORG_KEY
from tests.sandbox.orgapi.helpers import T0


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox of this test's own, started fresh."""
    with SandboxServer(org_key=ORG_KEY, seed=7) as server:
        yield server


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    clock.freeze(T0)
    yield
    clock.reset()
