"""The simulated Aries token endpoint, `POST /oauth2/token` (`sandbox.aries.tokens`
holds the tokens).

Takes a JSON or form-encoded body with `grant_type=refresh_token` and `refresh_token`;
answers `{"access_token", "refresh_token", "token_type": "Bearer", "expires_in"}` with
a new refresh token (the one used is spent). Errors are RFC 6749's: 400 with
`{"error", "error_description"}`, `error` one of `invalid_request` (missing or
malformed), `unsupported_grant_type`, `invalid_grant` (unknown, spent or revoked
refresh token). Client credentials are not asked for.
"""

import json
from typing import Any

from aiohttp import web

from sandbox.aries.runtime import RUNTIME_KEY

__all__ = ["TOKEN_PATH", "token_route"]

TOKEN_PATH = "/oauth2/token"
# Token answers must not be cached (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(error: str, description: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description},
        status=400,
        headers=NO_STORE,
    )


async def _token_body(request: web.Request) -> dict[str, Any] | None:
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
    form = await request.post()
    return {key: form.get(key) for key in form}


async def _token(request: web.Request) -> web.Response:
    """`grant_type=refresh_token` with `refresh_token`: a new access token and a new
    refresh token; the one used is spent."""
    body = await _token_body(request)
    if body is None:
        return _oauth_error("invalid_request", "body must be JSON or form encoded")
    grant = body.get("grant_type")
    if not isinstance(grant, str) or not grant:
        return _oauth_error("invalid_request", "grant_type is required")
    if grant != "refresh_token":
        return _oauth_error(
            "unsupported_grant_type", f"grant_type '{grant}' is not supported"
        )
    refresh = body.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        return _oauth_error("invalid_request", "refresh_token is required")
    book = request.config_dict[RUNTIME_KEY].state.aries
    issued = book.tokens.rotate(refresh, book.config.token_seconds)
    if issued is None:
        return _oauth_error(
            "invalid_grant", "refresh token is invalid, expired, revoked or used"
        )
    return web.json_response(issued, headers=NO_STORE)


def token_route() -> web.RouteDef:
    return web.post(TOKEN_PATH, _token)
