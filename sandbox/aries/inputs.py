"""Reading the Aries control API's requests: the loopback guard, JSON bodies and
field validation. A bad field raises `SandboxError` 400 INVALID_REQUEST naming it in
`details.field`, the shape of the rest of `/_sandbox`."""

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from sandbox.aries.money import parse_amount
from sandbox.aries.news import MAX_FILTER_ITEMS
from sandbox.orgapi.context import ok
from sandbox.orgapi.inputs import json_object, present
from sandbox.state.errors import SandboxError, invalid

__all__ = [
    "amount",
    "choice",
    "invalid",
    "json_body",
    "loopback_only",
    "ok",
    "only",
    "strings",
    "text",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_loopback(remote: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def loopback_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        # Unauthenticated by design: never reachable from another host.
        if not _is_loopback(request.remote):
            raise SandboxError(
                403, "FORBIDDEN", "The control API answers loopback only"
            )
        return await handler(request)

    return guarded


async def json_body(request: web.Request) -> dict[str, Any]:
    return json_object(await request.read())


def only(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for field in body:
        if field not in allowed:
            raise invalid(field, f"Unknown field '{field}'")


def text(
    body: Mapping[str, Any], field: str, *, required: bool, max_length: int = 200
) -> str | None:
    value = present(body, field, required=required)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise invalid(
            field, f"'{field}' must be a non-empty string of at most {max_length}"
        )
    return value.strip()


def choice(
    body: Mapping[str, Any], field: str, choices: tuple[str, ...], default: str | None
) -> str:
    value = body.get(field, default)
    if isinstance(value, str) and value.upper() in choices:
        return value.upper()
    raise invalid(field, f"'{field}' must be one of {', '.join(choices)}")


def amount(
    body: Mapping[str, Any], field: str, *, required: bool, positive: bool = True
) -> Decimal | None:
    value = present(body, field, required=required)
    if value is None:
        return None
    parsed = parse_amount(value, positive=positive)
    if parsed is None:
        kind = "positive " if positive else ""
        raise invalid(
            field, f"'{field}' must be a {kind}decimal string (or an integer)"
        )
    return parsed


def strings(body: Mapping[str, Any], field: str) -> list[str]:
    value = body.get(field, [])
    if (
        not isinstance(value, list)
        or len(value) > MAX_FILTER_ITEMS
        or not all(isinstance(item, str) and item.strip() for item in value)
    ):
        raise invalid(
            field, f"'{field}' must be a list of at most {MAX_FILTER_ITEMS} strings"
        )
    return [item.strip() for item in value]
