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


# DRF's refusals answered with their own status and our code; the message is DRF's
# unless one is given. Checked in order: APIException, the base of all, comes last.
_DRF_REFUSALS: tuple[
    tuple[type[drf.APIException], int | None, str, str | None], ...
] = (
    (drf.PermissionDenied, 403, "FORBIDDEN", None),
    (drf.MethodNotAllowed, 405, "METHOD_NOT_ALLOWED", None),
    (
        drf.UnsupportedMediaType,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "Send the body as JSON (Content-Type: application/json)",
    ),
    (drf.NotAcceptable, 406, "NOT_ACCEPTABLE", "This API only speaks JSON"),
    (drf.Throttled, 429, "RATE_LIMITED", None),
    # Any other API exception keeps its own status.
    (drf.APIException, None, "BAD_REQUEST", None),
)


def _mirror_error(
    message: str, code: str, status: int, details: dict | None = None
) -> Response:
    # The Organization API mirror speaks upstream's dialect, which adds "success": false.
    return Response(error_body(message, code, details, success=False), status=status)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ServiceError):
        return _mirror_error(exc.message, exc.code, exc.status, exc.details)
    if isinstance(exc, UpstreamError):
        return _mirror_error(
            "The upstream Organization API did not answer as expected; try again shortly",
            "UPSTREAM_UNAVAILABLE",
            503,
        )
    if isinstance(exc, Http404):
        return _mirror_error("Not found", "NOT_FOUND", 404)
    if isinstance(exc, drf.ParseError):
        return _mirror_error(f"Malformed JSON body: {exc.detail}", "INVALID_JSON", 400)
    if isinstance(exc, drf.ValidationError):
        details = _drf_details(exc.detail)
        return _mirror_error(_first_message(details), "VALIDATION_ERROR", 400, details)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        response = _mirror_error(
            str(exc.detail)
            if isinstance(exc, drf.AuthenticationFailed)
            else "Missing service token: send Authorization: Bearer <token>",
            "UNAUTHORIZED",
            401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="orgportal"'
        return response
    for kind, status, code, message in _DRF_REFUSALS:
        if isinstance(exc, kind):
            return _mirror_error(
                message or str(exc.detail), code, status or exc.status_code
            )
    return None
