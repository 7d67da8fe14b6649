"""The brokerage's OAuth-style tokens: HS256 JWT access tokens and opaque, rotating
refresh tokens.

An access token is valid while its signature checks, the store issued it (its `jti` is
known: a token from before a reset is not), it is not revoked and its `exp` is after
now. Using a refresh token spends it: the answer carries a new one, and the spent one
is refused from then on (`invalid_grant`), as a rotating authorization server does.
Revoking a user's access tokens leaves their refresh tokens usable unless those are
revoked too.

Times are Unix seconds from `orgportal.clock`, so tests can move them.
"""

import dataclasses
import secrets
import uuid
from typing import Any

import jwt

from orgportal import clock

__all__ = ["ACCESS_ALGORITHM", "AccessToken", "TokenStore"]

ACCESS_ALGORITHM = "HS256"
# Public on purpose (the sandbox guards nothing); long enough for HS256.
SIGNING_SECRET = "sandbox-aries-access-token-signing-secret-not-for-production"  # noqa: S105
ISSUER = "sandbox-aries"


@dataclasses.dataclass(slots=True)
class AccessToken:
    jti: str
    user_id: str
    issued_at: int
    expires_at: int
    revoked: bool = False


class TokenStore:
    """Tokens issued since the last reset."""

    def __init__(self) -> None:
        self.access: dict[str, AccessToken] = {}  # by jti
        self.refresh: dict[str, str] = {}  # live refresh token -> user id
        self.spent: dict[str, str] = {}  # used or revoked refresh token -> user id

    def issue(self, user_id: str, lifetime: int) -> dict[str, Any]:
        """A new access and refresh token pair, as the token endpoint answers it."""
        now = int(clock.now().timestamp())
        jti = uuid.uuid4().hex
        record = AccessToken(jti, user_id, now, now + lifetime)
        self.access[jti] = record
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "iat": now,
            "exp": record.expires_at,
            "jti": jti,
        }
        refresh = f"rt_{secrets.token_urlsafe(32)}"
        self.refresh[refresh] = user_id
        return {
            "access_token": jwt.encode(claims, SIGNING_SECRET, ACCESS_ALGORITHM),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }

    def rotate(self, refresh: str, lifetime: int) -> dict[str, Any] | None:
        """Spend a refresh token for a new pair; None when it is unknown, spent or
        revoked."""
        user_id = self.refresh.pop(refresh, None)
        if user_id is None:
            return None
        self.spent[refresh] = user_id
        return self.issue(user_id, lifetime)

    def verify(self, token: Any) -> AccessToken | None:
        """The access token's record when it is valid now; None otherwise."""
        if not isinstance(token, str) or not token:
            return None
        try:
            claims = jwt.decode(
                token,
                SIGNING_SECRET,
                algorithms=[ACCESS_ALGORITHM],
                # Expiry is checked against the project clock below, not time.time().
                options={"verify_exp": False, "require": ["sub", "exp", "jti"]},
            )
        except jwt.InvalidTokenError:
            return None
        record = self.access.get(str(claims["jti"]))
        if record is None or record.revoked or record.user_id != claims["sub"]:
            return None
        if record.expires_at <= clock.now().timestamp():
            return None
        return record

    def jti_of(self, token: str) -> str | None:
        """The `jti` of a token this store signed, valid or not."""
        try:
            claims = jwt.decode(
                token,
                SIGNING_SECRET,
                algorithms=[ACCESS_ALGORITHM],
                options={"verify_exp": False},
            )
        except jwt.InvalidTokenError:
            return None
        jti = claims.get("jti")
        return jti if isinstance(jti, str) and jti in self.access else None

    def revoke_access(
        self, *, user_id: str | None = None, jti: str | None = None
    ) -> int:
        """Revoke one access token or all of a user's; how many were live."""
        count = 0
        for record in self.access.values():
            if (jti is not None and record.jti == jti) or (
                user_id is not None and record.user_id == user_id
            ):
                count += not record.revoked
                record.revoked = True
        return count

    def revoke_refresh(self, user_id: str) -> int:
        """Revoke all of a user's refresh tokens; how many were live."""
        mine = [token for token, owner in self.refresh.items() if owner == user_id]
        for token in mine:
            self.spent[token] = self.refresh.pop(token)
        return len(mine)
