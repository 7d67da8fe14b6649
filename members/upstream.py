"""Client of the InsightSentry Organization API (sync, httpx).

The one place that talks to the Organization API. What callers rely on is the error a
call raises, because it says whether a mutation happened:

- `UpstreamRejected` (and subclasses): a definitive answer; nothing was applied.
- `UpstreamUnavailable`: upstream could not be reached or refused before processing,
  after retries; for a mutation, certainly not applied.
- `UpstreamOutcomeUnknown`: a mutation was sent and no definitive answer came back
  (read timeout, dropped connection, unexplained 5xx). It may or may not have been
  applied: read the member back. Never retried here, so it cannot be applied twice.

Reads retry on every transient failure; mutations only where the request certainly was
not applied. Backoff is exponential with full jitter, or what `Retry-After` asks for,
capped. The organization key never appears in a log line or an exception.
"""

import email.utils
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from members.uids import uid_problem
from orgportal.metrics import UPSTREAM_CALLS, UPSTREAM_LATENCY
from orgportal.upstream_http import (
    NoAnswer,
    UpstreamClient,
    configured,
    process_shared,
)

UPSTREAM = "org"
# Statuses that, on a read, are worth another attempt.
RETRYABLE_READ_STATUSES = frozenset({429, 500, 502, 503, 504})
# A 503 with this code is the sandbox's "refused before processing".
NOT_APPLIED_503_CODES = frozenset({"SANDBOX_FAULT"})
# Characters of a non-JSON error body kept in the message.
BODY_SNIPPET_CHARS = 200


class UpstreamError(Exception):
    """An Organization API call that did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = dict(details or {})

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, "
            f"code={self.code!r})"
        )


class UpstreamUnavailable(UpstreamError):
    """Upstream could not be reached, or refused before processing, after retries."""


class UpstreamOutcomeUnknown(UpstreamError):
    """A mutation was sent but no definitive answer came back; read the member back."""


class UpstreamRejected(UpstreamError):
    """A definitive 4xx: upstream processed the request and refused it."""


class UpstreamUnauthorized(UpstreamRejected):
    """401: the organization key is missing or wrong."""


class UpstreamNotFound(UpstreamRejected):
    """404."""


class UpstreamConflict(UpstreamRejected):
    """409: e.g. the uid is taken, or the member is not active."""


class UpstreamInsufficientCredits(UpstreamRejected):
    """402: the organization's upstream balance cannot pay for it."""


class UpstreamInvalid(UpstreamRejected):
    """400/422: the request itself is wrong (unknown plan, bad field)."""


_REJECTIONS: Mapping[int, type[UpstreamRejected]] = {
    400: UpstreamInvalid,
    401: UpstreamUnauthorized,
    402: UpstreamInsufficientCredits,
    404: UpstreamNotFound,
    409: UpstreamConflict,
    422: UpstreamInvalid,
}


class _Retry(Exception):
    """One attempt failed in a way worth another; carries the error to raise if not."""

    def __init__(self, error: UpstreamError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class OrgClient(UpstreamClient):
    """Sync client of the Organization API. Arguments left as None come from Django
    settings when the client is built (UPSTREAM_ORG_URL, UPSTREAM_ORG_KEY and those of
    orgportal.upstream_http.UpstreamClient); times are seconds."""

    url_setting = "UPSTREAM_ORG_URL"

    def __init__(self, *, api_key: str | None = None, **options: Any) -> None:
        self._api_key = str(configured(api_key, "UPSTREAM_ORG_KEY"))
        super().__init__(
            headers={"Authorization": f"Bearer {self._api_key}"}, **options
        )

    # --- operations --------------------------------------------------------------------

    def plans(self) -> dict[str, Any]:
        return self._call("plans", "GET", "/api/organization/plans")

    def member_create(
        self, *, uid: str, plan: str, full_name: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"uid": uid, "plan": plan}
        if full_name is not None:
            body["full_name"] = full_name
        data = self._call(
            "member_create", "POST", "/api/organization/members/create", json=body
        )
        return self._member(data, "member_create")

    def members_list(self, *, page: int = 1, limit: int = 10) -> dict[str, Any]:
        return self._call(
            "members_list",
            "GET",
            "/api/organization/members",
            params={"page": page, "limit": limit},
        )

    def members_iter(self, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every member, page by page. Not a snapshot: members created or deleted
        meanwhile may be missed or seen twice."""
        page = 1
        while True:
            data = self.members_list(page=page, limit=page_size)
            members = data.get("members") or []
            yield from members
            if not members or page >= int(data.get("total_pages") or 0):
                return
            page += 1

    def member_get(self, *, uid: str) -> dict[str, Any]:
        data = self._call("member_get", "GET", _member_path(uid))
        return self._member(data, "member_get")

    def member_update(
        self, *, uid: str, plan: str, full_name: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"plan": plan}
        if full_name is not None:
            body["full_name"] = full_name
        data = self._call(
            "member_update", "POST", _member_path(uid, "update"), json=body
        )
        return self._member(data, "member_update")

    def member_cancel(self, *, uid: str) -> dict[str, Any]:
        """The cancelled member, or the raw body if upstream does not include it."""
        data = self._call("member_cancel", "POST", _member_path(uid, "cancel"))
        member = data.get("member")
        return member if isinstance(member, dict) else data

    def member_delete(self, *, uid: str) -> None:
        self._call("member_delete", "DELETE", _member_path(uid))

    # --- transport ---------------------------------------------------------------------

    def _member(self, data: dict[str, Any], operation: str) -> dict[str, Any]:
        member = data.get("member")
        if isinstance(member, dict):
            return member
        message = f"Organization API {operation}: success without a member object"
        if operation == "member_get":
            raise UpstreamError(message)
        # It answered 2xx, so the change most likely happened; say so honestly.
        raise UpstreamOutcomeUnknown(message)

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        mutation = method != "GET"
        attempt = 0
        while True:
            try:
                result = self._timed_attempt(
                    operation, method, path, mutation, json=json, params=params
                )
            except _Retry as retry:
                if attempt >= self.max_retries:
                    self._count(operation, "unavailable")
                    raise UpstreamUnavailable(
                        f"{retry.error.message} (gave up after {attempt + 1} attempts)",
                        status=retry.error.status,
                        code=retry.error.code,
                        details=retry.error.details,
                    ) from None
                self._count(operation, "retried")
                self._sleep(self._backoff(attempt, retry.retry_after))
                attempt += 1
                continue
            except UpstreamRejected:
                self._count(operation, "rejected")
                raise
            except UpstreamOutcomeUnknown:
                self._count(operation, "unknown")
                raise
            except UpstreamError:
                self._count(operation, "unavailable")
                raise
            self._count(operation, "ok")
            return result

    def _timed_attempt(
        self, operation: str, *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return self._attempt(operation, *args, **kwargs)
        finally:
            UPSTREAM_LATENCY.labels(UPSTREAM, operation).observe(
                time.perf_counter() - started
            )

    def _attempt(
        self,
        operation: str,
        method: str,
        path: str,
        mutation: bool,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        where = f"Organization API {operation}"
        try:
            response = self._request(where, method, path, json=json, params=params)
        except NoAnswer as exc:
            if not exc.retryable:  # a misconfigured URL: retrying cannot help
                raise UpstreamUnavailable(str(exc)) from None
            if exc.sent and mutation:
                # The request may have been processed; the answer was lost.
                raise UpstreamOutcomeUnknown(str(exc)) from None
            # Nothing reached upstream (safe to retry even a mutation), or a read.
            raise _Retry(UpstreamUnavailable(str(exc))) from None

        status = response.status_code
        data = _json_or_none(response)
        if 200 <= status < 300:
            if isinstance(data, dict):
                return data
            if method == "DELETE" and not response.content:
                return {}
            message = f"{where}: HTTP {status} without a JSON object body"
            if mutation:
                raise UpstreamOutcomeUnknown(message, status=status)
            raise UpstreamError(message, status=status)

        error = self._error(where, response, data)
        retry_after = _retry_after(response)
        if 400 <= status < 500 and status != 429:
            raise _REJECTIONS.get(status, UpstreamRejected)(
                error.message, status=status, code=error.code, details=error.details
            )
        if mutation:
            refused_unprocessed = status == 429 or (
                status == 503
                and (error.code in NOT_APPLIED_503_CODES or retry_after is not None)
            )
            if refused_unprocessed:
                raise _Retry(error, retry_after)
            raise UpstreamOutcomeUnknown(
                error.message, status=status, code=error.code, details=error.details
            )
        if status in RETRYABLE_READ_STATUSES:
            raise _Retry(error, retry_after)
        raise error

    def _error(self, where: str, response: httpx.Response, data: Any) -> UpstreamError:
        status = response.status_code
        if isinstance(data, dict):
            message = self._redact(
                str(data.get("error") or data.get("message") or "no message")
            )
            code = data.get("code")
            details = data.get("details")
            return UpstreamError(
                f"{where}: HTTP {status}: {message}",
                status=status,
                code=str(code) if code is not None else None,
                details=details if isinstance(details, dict) else {},
            )
        content_type = response.headers.get("content-type", "no content type")
        snippet = " ".join(response.text[:BODY_SNIPPET_CHARS].split())
        snippet = self._redact(snippet) or "empty body"
        return UpstreamError(
            f"{where}: HTTP {status} with a non-JSON body ({content_type}): {snippet}",
            status=status,
        )

    def _redact(self, text: str) -> str:
        # Belt and braces: an echoing proxy must not leak the key into our errors.
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    @staticmethod
    def _count(operation: str, outcome: str) -> None:
        UPSTREAM_CALLS.labels(UPSTREAM, operation, outcome).inc()


def _member_path(uid: str, action: str | None = None) -> str:
    problem = uid_problem(uid)
    if problem:
        # Percent-encoding cannot save it: the request would reach another path.
        raise UpstreamInvalid(
            f"Not sent: {problem}", code="UID_NOT_ADDRESSABLE", details={"uid": uid}
        )
    path = f"/api/organization/members/{quote(uid, safe='')}"
    return f"{path}/{action}" if action else path


def _json_or_none(response: httpx.Response) -> Any:
    content_type = response.headers.get("content-type", "").lower()
    if "json" not in content_type:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def shared_client() -> OrgClient:
    """This process's client for the configured Organization API."""
    return process_shared(OrgClient, "UPSTREAM_ORG_URL", "UPSTREAM_ORG_KEY")
