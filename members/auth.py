from django.utils import timezone
from rest_framework import authentication, exceptions

from members.crypto import sha256_hex
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
            .only("id", "name", "last_used_at")
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
