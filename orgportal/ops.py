"""Operational endpoints (/healthz, /readyz, /metrics) and the JSON error handlers.

Error bodies everywhere share one shape: {"error": ..., "code": ..., "details": {}}.
A failed readiness check names a short reason; exception text is redacted of every
configured secret before it is shown, because probes' bodies end up in dashboards.
"""

import hmac
import logging
from urllib.parse import urlsplit

import httpx
import redis
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from members.errors import error_body
from orgportal.clientip import client_ip, in_networks

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 1.0
UPSTREAM_TIMEOUT_SECONDS = 2.0
_REASON_MAX_CHARS = 160


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks = {
        "database": _check_database(),
        "redis": _check_redis(),
        "upstream": _check_upstream(),
    }
    ready = all(value in ("ok", "not configured") for value in checks.values())
    if ready:
        return JsonResponse({"status": "ready", "checks": checks})
    return JsonResponse({"status": "not ready", "checks": checks}, status=503)


def metrics(request):
    """Prometheus text, for a scraper that passes every configured check (settings
    METRICS_TOKEN, METRICS_ALLOWED_IPS); with none configured, for no one."""
    token, allowed = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS
    if not token and not allowed:
        return json_error(
            request,
            "Metrics are disabled: set METRICS_TOKEN or METRICS_ALLOWED_IPS.",
            "METRICS_DISABLED",
            403,
        )
    if allowed and not in_networks(client_ip(request), allowed):
        return json_error(
            request, "This address may not read metrics.", "FORBIDDEN", 403
        )
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            sent.strip().encode(), token.encode()
        ):
            response = json_error(
                request,
                "Send the metrics token as Authorization: Bearer <token>.",
                "UNAUTHORIZED",
                401,
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


def error_400(request, exception=None):
    return json_error(
        request, "The request could not be understood.", "BAD_REQUEST", 400
    )


def error_403(request, exception=None):
    return json_error(
        request, "You do not have permission to do this.", "FORBIDDEN", 403
    )


def _wants_page(request) -> bool:
    """A person's browser on a portal URL gets a page; API clients get JSON."""
    machine = ("/api/", "/v3/", "/v1/", "/healthz", "/readyz", "/metrics")
    return not request.path.startswith(machine) and "text/html" in request.headers.get(
        "Accept", ""
    )


def error_404(request, exception=None):
    if _wants_page(request):
        return render(
            request,
            "portal/error.html",
            {
                "title": "Page not found",
                "message": f"There is no page at {request.path}.",
            },
            status=404,
        )
    return json_error(
        request, "The requested resource was not found.", "NOT_FOUND", 404
    )


def error_500(request):
    return json_error(request, "Internal server error.", "INTERNAL_ERROR", 500)


def json_error(
    request, message: str, code: str, status: int, details=None
) -> JsonResponse:
    """The error shape; under the Organization API mirror it carries "success": false as
    upstream's does."""
    mirror = request.path.startswith("/api/organization/")
    body = error_body(message, code, details, success=False if mirror else None)
    return JsonResponse(body, status=status)


# --- readiness checks: each returns "ok", "not configured" or "error: <reason>" -------


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready", never a 500
        return _failure("database", exc)
    return "ok"


def _check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()
    except redis.TimeoutError:
        return f"error: no answer within {REDIS_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        return _failure("redis", exc)
    return "ok"


def _check_upstream() -> str:
    url = settings.UPSTREAM_ORG_URL.rstrip("/") + "/api/organization/plans"
    try:
        response = httpx.get(
            url,
            headers={"Authorization": f"Bearer {settings.UPSTREAM_ORG_KEY}"},
            timeout=UPSTREAM_TIMEOUT_SECONDS,
        )
    except httpx.TimeoutException:
        return f"error: no answer within {UPSTREAM_TIMEOUT_SECONDS:g} s"
    except httpx.ConnectError:
        return f"error: cannot connect to {_origin(settings.UPSTREAM_ORG_URL)}"
    except Exception as exc:
        return _failure("upstream", exc)
    if response.is_success:
        return "ok"
    if response.status_code in (401, 403):
        return f"error: HTTP {response.status_code}, the organization key was refused"
    return f"error: HTTP {response.status_code}"


def _failure(check: str, exc: Exception) -> str:
    reason = _redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
    logger.warning("readiness check failed", extra={"check": check, "reason": reason})
    if len(reason) > _REASON_MAX_CHARS:
        reason = reason[: _REASON_MAX_CHARS - 3] + "..."
    return f"error: {reason}"


def _origin(url: str) -> str:
    # Scheme, host and port only: a URL may carry credentials in its userinfo.
    parts = urlsplit(url)
    host = parts.hostname or ""
    return (
        f"{parts.scheme}://{host}:{parts.port}"
        if parts.port
        else f"{parts.scheme}://{host}"
    )


def _secrets() -> list[str]:
    values = [
        settings.UPSTREAM_ORG_KEY,
        settings.SECRET_KEY,
        settings.DATABASES["default"].get("PASSWORD", ""),
    ]
    if settings.REDIS_URL:
        values.append(urlsplit(settings.REDIS_URL).password or "")
    return [value for value in values if value and len(value) >= 3]


def _redact(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text
