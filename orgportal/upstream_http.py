"""What the REST upstream clients (members.upstream for the Organization API,
brokerage.upstream for the Aries token endpoint) share: arguments that default to the
UPSTREAM_* settings, one httpx client built from them, one client per process, and how
long one call may go on."""

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from django.conf import settings

from orgportal.backoff import full_jitter

Client = TypeVar("Client")
# What every upstream client is built from, besides its own settings.
_COMMON_SETTINGS = (
    "UPSTREAM_TIMEOUT",
    "UPSTREAM_CONNECT_TIMEOUT",
    "UPSTREAM_MAX_RETRIES",
    "UPSTREAM_BACKOFF_BASE",
    "UPSTREAM_BACKOFF_CAP",
)
_shared: dict[tuple, Any] = {}
_shared_lock = threading.Lock()


class NoAnswer(Exception):
    """A request that got no HTTP answer; the message says why. `sent`: it may have
    reached the upstream and been processed (its answer was lost); otherwise nothing
    reached it, so even a change is safe to retry. `retryable` is False when another
    attempt cannot help (a misconfigured URL)."""

    def __init__(self, message: str, *, sent: bool, retryable: bool = True) -> None:
        super().__init__(message)
        self.sent = sent
        self.retryable = retryable


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


class UpstreamClient:
    """What both REST upstream clients are built from: the base URL (the setting
    `url_setting` names), the retry budget and backoff (UPSTREAM_MAX_RETRIES,
    UPSTREAM_BACKOFF_BASE, UPSTREAM_BACKOFF_CAP, seconds), and one httpx client with
    the upstream timeouts. Arguments left as None come from Django settings when the
    client is built."""

    # The setting that names the base URL when none is given.
    url_setting: str | None = None

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_retries: int | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = str(configured(base_url, self.url_setting)).rstrip("/")
        self.max_retries = int(configured(max_retries, "UPSTREAM_MAX_RETRIES"))
        self.backoff_base = float(configured(backoff_base, "UPSTREAM_BACKOFF_BASE"))
        self.backoff_cap = float(configured(backoff_cap, "UPSTREAM_BACKOFF_CAP"))
        self._sleep = sleep
        self._http = http_client(
            self.base_url,
            timeout=timeout,
            connect_timeout=connect_timeout,
            headers=headers,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, where: str, method: str, path: str, **kwargs) -> httpx.Response:
        """The upstream's answer to one request (`where` names it in messages);
        NoAnswer when none came."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.UnsupportedProtocol:
            raise NoAnswer(
                f"{where}: unsupported URL scheme in {self.base_url!r}",
                sent=False,
                retryable=False,
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NoAnswer(
                f"{where}: cannot connect ({type(exc).__name__})", sent=False
            ) from None
        except httpx.TransportError as exc:
            raise NoAnswer(
                f"{where}: no answer ({type(exc).__name__})", sent=True
            ) from None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before attempt `attempt + 1` (orgportal.backoff)."""
        return full_jitter(
            attempt,
            base=self.backoff_base,
            cap=self.backoff_cap,
            retry_after=retry_after,
        )


def process_shared(build: Callable[[], Client], *own_settings: str) -> Client:
    """This process's client made by `build`. Building one costs tens of milliseconds
    (TLS context, connection pool), so callers share it; httpx clients are
    thread-safe. Keyed by process id (a forked worker gets its own sockets) and by
    the settings it is built from, so a change of configuration gets a new client."""
    names = (*own_settings, *_COMMON_SETTINGS)
    key = (build, os.getpid(), *(getattr(settings, name) for name in names))
    with _shared_lock:
        client = _shared.get(key)
        if client is None:
            client = _shared[key] = build()
        return client


def call_deadline_s() -> float:
    """The longest one upstream call can go on under the settings, every retry and its
    backoff included, plus a few seconds of margin (seconds): a claim on a call, or an
    operation still being sent, must outlast it."""
    attempts = settings.UPSTREAM_MAX_RETRIES + 1
    return (
        attempts * (settings.UPSTREAM_CONNECT_TIMEOUT + settings.UPSTREAM_TIMEOUT)
        + settings.UPSTREAM_MAX_RETRIES * settings.UPSTREAM_BACKOFF_CAP
        + 5.0
    )
