from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from members import scopes
from members.crypto import sha256_hex
from members.errors import ServiceError
from members.models import ServiceToken

# last_used_at is a hint for operators, so it is written at most once a minute per token.
_TOUCH_EVERY_SECONDS = 60


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
        found = (
            ServiceToken.objects.filter(
                token_hash=sha256_hex(token.strip()), revoked_at=None
            )
            .only("id", "name", "last_used_at", "scopes")
            .first()
        )
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked service token")
        now = timezone.now()
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > (
            _TOUCH_EVERY_SECONDS
        ):
            ServiceToken.objects.filter(pk=found.pk).update(last_used_at=now)
        return (found, found)

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
