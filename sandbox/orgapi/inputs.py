"""Request bodies and query parameters of the Organization and control APIs, parsed or
refused with 400 INVALID_REQUEST (413 PAYLOAD_TOO_LARGE for an oversize body)."""

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sandbox.state.errors import SandboxError, invalid

MAX_BODY_BYTES = 64 * 1024


def too_large() -> SandboxError:
    return SandboxError(
        413,
        "PAYLOAD_TOO_LARGE",
        "Request body too large",
        {"max_bytes": MAX_BODY_BYTES},
    )


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large() from None
    return json_object(raw)


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise invalid("body", "Request body must be a JSON object")
    return body


def present(body: Mapping[str, Any], field: str, *, required: bool) -> Any:
    """The body's `field`: None when absent or null; 400 then if it is `required`."""
    value = body.get(field)
    if value is None and required:
        raise invalid(field, f"'{field}' is required")
    return value


def string_field(
    body: Mapping[str, Any],
    field: str,
    *,
    required: bool,
    max_length: int | None = None,
) -> str | None:
    value = present(body, field, required=required)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(field, f"'{field}' must be a string")
    if required and not value:
        raise invalid(field, f"'{field}' must not be empty")
    if max_length is not None and len(value) > max_length:
        raise invalid(field, f"'{field}' must be at most {max_length} characters")
    return value


def query_int(
    request: web.Request, name: str, *, default: int, low: int, high: int | None
) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise invalid(name, f"'{name}' must be an integer {bounds}")
    return value


def non_negative(value: Any, field: str, kind: type = float) -> Any:
    allowed = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed) or value < 0:
        raise invalid(field, f"'{field}' must be a non-negative {kind.__name__}")
    return kind(value)
