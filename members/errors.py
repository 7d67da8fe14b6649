"""The error shape everywhere: {"error": <human message>, "code": <UPPER_SNAKE>, "details": {}}.

Services raise `ServiceError`s; API views never build error bodies by hand.
"""

from typing import Any

from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from members.upstream import UpstreamError


class ServiceError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}


class ValidationFailed(ServiceError):
    status, code = 400, "VALIDATION_ERROR"


class NotFound(ServiceError):
    status, code = 404, "NOT_FOUND"


class Conflict(ServiceError):
    status, code = 409, "CONFLICT"


class InsufficientCredits(ServiceError):
    status, code = 402, "INSUFFICIENT_CREDITS"


class UpstreamFailed(ServiceError):
    status, code = 502, "UPSTREAM_ERROR"


def error_body(
    message: str, code: str, details: dict | None = None, *, success: bool | None = None
) -> dict:
    body: dict[str, Any] = {}
    if success is not None:
        body["success"] = success
    body.update({"error": message, "code": code, "details": details or {}})
    return body


def _drf_details(detail: Any) -> dict:
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": _flatten(detail)}
    return {}


def _flatten(value: Any) -> Any:
    if isinstance(value, list):
        return [_flatten(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _flatten(v) for k, v in value.items()}
    return str(value)


def _first_message(details: dict) -> str:
    for field, messages in details.items():
        msg = messages
        while isinstance(msg, list | dict) and msg:
            msg = msg[0] if isinstance(msg, list) else next(iter(msg.values()))
        if field == "non_field_errors":
            return str(msg)
        return f"{field}: {msg}"
    return "Invalid request"


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    # The Organization API mirror speaks upstream's dialect, which adds "success": false.
    success = False
    if isinstance(exc, ServiceError):
        return Response(
            error_body(exc.message, exc.code, exc.details, success=success),
            status=exc.status,
        )
    if isinstance(exc, UpstreamError):
        return Response(
            error_body(
                "The upstream Organization API did not answer as expected; try again shortly",
                "UPSTREAM_UNAVAILABLE",
                success=success,
            ),
            status=503,
        )
    if isinstance(exc, Http404):
        return Response(
            error_body("Not found", "NOT_FOUND", success=success), status=404
        )
    if isinstance(exc, drf.ParseError):
        return Response(
            error_body(
                f"Malformed JSON body: {exc.detail}", "INVALID_JSON", success=success
            ),
            status=400,
        )
    if isinstance(exc, drf.ValidationError):
        details = _drf_details(exc.detail)
        return Response(
            error_body(
                _first_message(details), "VALIDATION_ERROR", details, success=success
            ),
            status=400,
        )
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return Response(
            error_body(
                str(exc.detail)
                if isinstance(exc, drf.AuthenticationFailed)
                else "Missing service token: send Authorization: Bearer <token>",
                "UNAUTHORIZED",
                success=success,
            ),
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="orgportal"'},
        )
    if isinstance(exc, drf.PermissionDenied):
        return Response(
            error_body(str(exc.detail), "FORBIDDEN", success=success), status=403
        )
    if isinstance(exc, drf.MethodNotAllowed):
        return Response(
            error_body(str(exc.detail), "METHOD_NOT_ALLOWED", success=success),
            status=405,
        )
    if isinstance(exc, drf.UnsupportedMediaType):
        return Response(
            error_body(
                "Send the body as JSON (Content-Type: application/json)",
                "UNSUPPORTED_MEDIA_TYPE",
                success=success,
            ),
            status=415,
        )
    if isinstance(exc, drf.NotAcceptable):
        return Response(
            error_body("This API only speaks JSON", "NOT_ACCEPTABLE", success=success),
            status=406,
        )
    if isinstance(exc, drf.Throttled):
        return Response(
            error_body(str(exc.detail), "RATE_LIMITED", success=success), status=429
        )
    if isinstance(exc, drf.APIException):
        return Response(
            error_body(str(exc.detail), "BAD_REQUEST", success=success),
            status=exc.status_code,
        )
    return None
