"""What the REST upstream clients (members.upstream for the Organization API,
brokerage.upstream for the Aries token endpoint) share: arguments that default to the
UPSTREAM_* settings, and one httpx client built from them."""

from typing import Any

import httpx
from django.conf import settings


def configured(value: Any, name: str) -> Any:
    """`value`, or the setting `name` when it is None (read at call time)."""
    if value is not None:
        return value

    return getattr(settings, name)


def http_client(
    base_url: str,
    *,
    timeout: float | None,
    connect_timeout: float | None,
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """A JSON client of `base_url` with the upstream timeouts (seconds)."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(
            float(configured(timeout, "UPSTREAM_TIMEOUT")),
            connect=float(configured(connect_timeout, "UPSTREAM_CONNECT_TIMEOUT")),
        ),
        headers={
            **(headers or {}),
            "Accept": "application/json",
            "User-Agent": "orgportal",
        },
        transport=transport,
    )
