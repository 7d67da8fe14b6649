"""Building Organization API clients for tests, and reading what they did."""

from collections.abc import Callable

import httpx
from prometheus_client import REGISTRY

from members.upstream import OrgClient

ORG_KEY = "test-org-key-5f1c"
BACKOFF_BASE = 0.1
BACKOFF_CAP = 1.0
MAX_RETRIES = 3


def client_options(sleeps: list[float], **overrides: object) -> dict:
    """OrgClient settings for tests: quick backoff whose sleeps are recorded, not slept."""
    return {
        "api_key": ORG_KEY,
        "timeout": 5.0,
        "connect_timeout": 1.0,
        "max_retries": MAX_RETRIES,
        "backoff_base": BACKOFF_BASE,
        "backoff_cap": BACKOFF_CAP,
        "sleep": sleeps.append,
        **overrides,
    }


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float]
) -> OrgClient:
    """A client whose upstream is `handler`, for answers the sandbox never gives."""
    transport = httpx.MockTransport(handler)
    return OrgClient(
        **client_options(
            sleeps, base_url="http://upstream.test", timeout=1.0, transport=transport
        )
    )


def calls(operation: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "orgportal_upstream_calls_total",
        {"upstream": "org", "operation": operation, "outcome": outcome},
    )
    return value or 0.0


def member_count(control: httpx.Client) -> int:
    return control.get("/state").json()["member_count"]
