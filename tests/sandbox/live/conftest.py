from collections.abc import Callable

import pytest

from sandbox.server import SandboxServer


@pytest.fixture
def ws_url(sandbox: SandboxServer) -> Callable[[str], str]:
    return lambda path: sandbox.url.replace("http://", "ws://") + path
