"""Client of the Aries OAuth2 token endpoint (sync, httpx): the one place that talks
to Aries over HTTP.

`POST {UPSTREAM_ARIES_URL}/oauth2/token` with `grant_type=refresh_token` answers a new
token pair. Refresh tokens rotate: the one sent is dead once Aries has answered. What
callers rely on is the error a refresh raises:

- `AriesInvalidGrant`: 400 `invalid_grant`, the refresh token is dead for good.
- `AriesUnavailable`: anything else (5xx, 429, timeouts, a refused connection, another
  4xx, a malformed answer) after retries with exponential backoff and full jitter; the
  link keeps its tokens and the next run tries again.

No token appears in a log line, a metric or an exception message.
"""

import time
from dataclasses import dataclass

import httpx

from orgportal.metrics import UPSTREAM_CALLS, UPSTREAM_LATENCY
from orgportal.upstream_http import NoAnswer, UpstreamClient, process_shared

UPSTREAM = "aries"
TOKEN_PATH = "/oauth2/token"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Characters of an error description kept in a failure reason.
DESCRIPTION_CHARS = 120


class AriesError(Exception):
    """A token refresh that did not succeed. The message never carries a token."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class AriesInvalidGrant(AriesError):
    """The refresh token is expired, revoked or already used: the link failed."""


class AriesUnavailable(AriesError):
    """No new token pair this time; the refresh token may still be good."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds, as Aries reported them

    def __repr__(self) -> str:
        return f"TokenPair(expires_in={self.expires_in})"


class _Retry(Exception):
    def __init__(
        self,
        error: AriesError,
        retry_after: float | None = None,
        *,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after
        # The request reached Aries and its answer was lost: it may have rotated.
        self.maybe_applied = maybe_applied


class AriesClient(UpstreamClient):
    """Arguments left as None come from Django settings when the client is built:
    UPSTREAM_ARIES_URL and those of orgportal.upstream_http.UpstreamClient."""

    url_setting = "UPSTREAM_ARIES_URL"

    def refresh(self, refresh_token: str) -> TokenPair:
        """Trade `refresh_token` for a new pair. Retries what is worth retrying."""
        attempt = 0
        answer_lost = False
        while True:
            started = time.perf_counter()
            try:
                pair = self._attempt(refresh_token)
            except _Retry as retry:
                answer_lost = answer_lost or retry.maybe_applied
                if attempt >= self.max_retries:
                    _count("unavailable")
                    raise AriesUnavailable(
                        f"{retry.error.message} (gave up after {attempt + 1} attempts)",
                        status=retry.error.status,
                    ) from None
                _count("retried")
                self._sleep(self._backoff(attempt, retry.retry_after))
                attempt += 1
                continue
            except AriesInvalidGrant as exc:
                _count("rejected")
                if answer_lost:
                    # Either way the refresh token is dead; say why it may be.
                    raise AriesInvalidGrant(
                        f"{exc.message}, after an attempt whose answer was lost (that "
                        "attempt may have rotated the token)",
                        status=exc.status,
                    ) from None
                raise
            except AriesError:
                _count("unavailable")
                raise
            finally:
                UPSTREAM_LATENCY.labels(UPSTREAM, "token_refresh").observe(
                    time.perf_counter() - started
                )
            _count("ok")
            return pair

    def _attempt(self, refresh_token: str) -> TokenPair:
        where = "Aries token refresh"
        try:
            response = self._request(
                where,
                "POST",
                TOKEN_PATH,
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            )
        except NoAnswer as exc:
            if not exc.retryable:
                raise AriesUnavailable(str(exc)) from None
            # Not sent: the refresh token is as good as before. Sent: Aries may have
            # rotated the token without our seeing the answer. A retry is the only way
            # to find out, and its answer (a pair, or invalid_grant) is the truth
            # either way: a lost pair cannot be fetched again.
            raise _Retry(AriesUnavailable(str(exc)), maybe_applied=exc.sent) from None
        status = response.status_code
        data = _json_object(response)
        if status == 200:
            return _pair(data, where)
        error = str(data.get("error") or "")[:DESCRIPTION_CHARS] if data else ""
        # An echoing server must not leak the token into failure reasons and logs.
        detail = f"{error}{_description(data)}".replace(refresh_token, "[redacted]")
        if status == 400 and error == "invalid_grant":
            raise AriesInvalidGrant(f"{where}: {detail}", status=status)
        message = f"{where}: HTTP {status}" + (f" {detail}" if error else "")
        if status in RETRYABLE_STATUSES:
            raise _Retry(
                AriesUnavailable(message, status=status), _retry_after(response)
            )
        # Another refusal (invalid_client, invalid_request, ...) says our request or
        # configuration is wrong, not that this link's refresh token is dead.
        raise AriesUnavailable(message, status=status)


def _pair(data: dict | None, where: str) -> TokenPair:
    if data is None:
        # A cut-off body: Aries rotated the token and the pair is lost.
        raise _Retry(
            AriesUnavailable(f"{where}: HTTP 200 without a JSON object"),
            maybe_applied=True,
        )
    access = data.get("access_token")
    refresh = data.get("refresh_token")
    expires_in = data.get("expires_in")
    if (
        not isinstance(access, str)
        or not access
        or not isinstance(refresh, str)
        or not refresh
        or isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or expires_in <= 0
    ):
        raise AriesUnavailable(f"{where}: HTTP 200 without a usable token pair")
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


def _description(data: dict | None) -> str:
    text = str((data or {}).get("error_description") or "")
    text = " ".join(text.split())[:DESCRIPTION_CHARS]
    return f" ({text})" if text else ""


def _json_object(response: httpx.Response) -> dict | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def _count(outcome: str) -> None:
    UPSTREAM_CALLS.labels(UPSTREAM, "token_refresh", outcome).inc()


def shared_client() -> AriesClient:
    """This process's client for the configured Aries token endpoint."""
    return process_shared(AriesClient, AriesClient.url_setting)
