"""Service token authentication and scopes for the REST API.

A token's id, name and scopes are cached in this process for CACHE_SECONDS, so most
requests do not read the database to authenticate. Any change to a token in this
process (created, revoked, saved) empties the cache at once; another process's cache
forgets a revoked token within CACHE_SECONDS, the bound gateway keys have for open
streams.
"""

import datetime as dt
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from rest_framework import authentication, exceptions, permissions

from members import caches, scopes
from members.crypto import sha256_hex
from members.errors import ServiceError
from members.models import ServiceToken
from orgportal import clock

CACHE_SECONDS = caches.CACHE_SECONDS  # the bound every per-process cache keeps
# last_used_at is a hint for operators, so it is written at most once a minute per token.
_TOUCH_EVERY_SECONDS = 60
# What a request's token carries, in the model's field order (ServiceToken.from_db).
_FIELDS = ("id", "name", "last_used_at", "scopes")


@dataclass
class _Cached:
    id: int
    name: str
    last_used_at: dt.datetime | None  # as this process last read or wrote it
    scopes: tuple[str, ...]
    expires: float  # time.monotonic()


# By token hash. Only tokens that exist are kept, so it grows no larger than the table.
_cache: dict[str, _Cached] = {}


def _cache_clear(**_signal) -> None:
    # Now, and again at commit: a request between the two may have read the row as it
    # was before the change.
    _cache.clear()
    transaction.on_commit(_cache.clear)


post_save.connect(_cache_clear, sender=ServiceToken)
post_delete.connect(_cache_clear, sender=ServiceToken)


def _token(token_hash: str) -> _Cached | None:
    now = time.monotonic()
    found = _cache.get(token_hash)
    if found is not None and found.expires > now:
        return found
    row = (
        ServiceToken.objects.filter(token_hash=token_hash, revoked_at=None)
        .values_list(*_FIELDS)
        .first()
    )
    if row is None:
        _cache.pop(token_hash, None)
        return None
    pk, name, last_used_at, granted = row
    found = _Cached(pk, name, last_used_at, tuple(granted), now + CACHE_SECONDS)
    _cache[token_hash] = found
    return found


def _touch(found: _Cached) -> None:
    now = clock.now()
    last = found.last_used_at
    if last is None or (now - last).total_seconds() > _TOUCH_EVERY_SECONDS:
        found.last_used_at = now
        ServiceToken.objects.filter(pk=found.id).update(last_used_at=now)


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <service token>`; the request's user is the ServiceToken."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer <service token>'"
            )
        found = _token(sha256_hex(token.strip()))
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked service token")
        _touch(found)
        # A fresh instance per request, the other fields deferred as a query's .only().
        record = ServiceToken.from_db(
            ServiceToken.objects.db,
            _FIELDS,
            (found.id, found.name, found.last_used_at, list(found.scopes)),
        )
        return (record, record)

    def authenticate_header(self, request):
        return 'Bearer realm="orgportal"'


class InsufficientScope(ServiceError):
    status, code = 403, "INSUFFICIENT_SCOPE"


class ServiceTokenScopes(permissions.BasePermission):
    """An authenticated service token holding the scope members.scopes names for this
    route and method. The default permission class of every API view."""

    def has_permission(self, request, view):
        match = request.resolver_match
        listed, required = scopes.scope_required(
            match.view_name if match else None, request.method
        )
        if listed and required is scopes.PUBLIC:
            return True
        token = request.user
        if not isinstance(token, ServiceToken):
            raise exceptions.NotAuthenticated()
        if not listed:
            # A method the view does not implement gets its 405; an operation the
            # table forgot is refused rather than left open.
            if not hasattr(view, request.method.lower()):
                return True
            raise InsufficientScope(
                f"No scope is defined for {request.method} {request.path}; "
                "no token may call it",
                details={"required": None, "token_scopes": list(token.scopes)},
            )
        if scopes.scope_granted(token.scopes, required):
            return True
        raise InsufficientScope(
            f"This token lacks the {required!r} scope needed for "
            f"{request.method} {request.path}",
            details={"required": required, "token_scopes": list(token.scopes)},
        )
