"""Gateway keys (for members' apps) and service tokens (for the parent SaaS backend).

Both are shown once and stored only as SHA-256 hashes. Gateway keys are shaped like
upstream keys, a signed JWT with the same claims, but the claims authorize nothing:
authorization always comes from the database.
"""

import uuid
from collections.abc import Iterable

import jwt
from django.db import transaction

from members.crypto import random_token, sha256_hex, signing_secret
from members.errors import NotFound, ValidationFailed
from members.models import GatewayKey, Member, ServiceToken
from members.scopes import DEFAULT_SCOPES, UnknownScope, scopes_clean
from members.services.audit import audit_record
from orgportal import clock

SERVICE_TOKEN_PREFIX = "ops_"


def _gateway_jwt(member: Member) -> str:
    now = clock.now()
    payload = {
        "uuid": str(uuid.uuid4()),
        "uid": member.uid,
        "plan": member.plan.name,
        "newsfeed_enabled": member.newsfeed,
        "websocket_symbols": member.websocket_symbols,
        "websocket_connections": member.websocket_connections,
        "iat": int(now.timestamp()),
        "iss": "orgportal",
    }
    return jwt.encode(payload, signing_secret(), algorithm="HS256")


def gateway_key_issue(*, member: Member, actor: str, revoke_others: bool = True) -> str:
    """Issue a new gateway key; return it in full (the only time it is ever seen)."""
    token = _gateway_jwt(member)
    now = clock.now()
    with transaction.atomic(savepoint=False):
        if revoke_others:
            revoked = GatewayKey.objects.filter(member=member, revoked_at=None).update(
                revoked_at=now
            )
        else:
            revoked = 0
        key = GatewayKey.objects.create(
            member=member,
            key_hash=sha256_hex(token),
            prefix=token[:10],
            last4=token[-4:],
            created_at=now,
        )
        audit_record(
            actor=actor,
            action="gateway_key.issue",
            obj=("member", member.uid),
            after={"key": key.masked, "revoked_previous": revoked},
        )
    return token


def gateway_keys_revoke(*, member: Member, actor: str) -> int:
    now = clock.now()
    count = GatewayKey.objects.filter(member=member, revoked_at=None).update(
        revoked_at=now
    )
    if count:
        audit_record(
            actor=actor,
            action="gateway_key.revoke",
            obj=("member", member.uid),
            after={"revoked": count},
        )
    return count


def service_token_create(
    *, name: str, actor: str, scopes: Iterable[str] | None = None
) -> tuple[ServiceToken, str]:
    """A new token with `scopes` (members.scopes; DEFAULT_SCOPES when None)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(
            "A service token needs a name of 1 to 100 characters",
            details={"name": ["1 to 100 characters"]},
        )
    try:
        granted = scopes_clean(DEFAULT_SCOPES if scopes is None else scopes)
    except UnknownScope as exc:
        raise ValidationFailed(str(exc), details={"scopes": [str(exc)]}) from None
    if not granted:
        raise ValidationFailed(
            "A service token needs at least one scope",
            details={"scopes": ["choose at least one"]},
        )
    token = SERVICE_TOKEN_PREFIX + random_token(32)
    with transaction.atomic():
        record = ServiceToken.objects.create(
            name=name,
            token_hash=sha256_hex(token),
            prefix=token[:8],
            created_at=clock.now(),
            created_by=actor,
            scopes=granted,
        )
        audit_record(
            actor=actor,
            action="service_token.create",
            obj=("service_token", record.pk),
            after={"name": name, "scopes": granted},
        )
    return record, token


def service_token_revoke(*, token_id: int, actor: str) -> ServiceToken:
    with transaction.atomic():
        record = ServiceToken.objects.select_for_update().filter(pk=token_id).first()
        if record is None:
            raise NotFound(f"No service token {token_id}")
        if record.revoked_at is None:
            record.revoked_at = clock.now()
            record.save(update_fields=["revoked_at"])
            audit_record(
                actor=actor,
                action="service_token.revoke",
                obj=("service_token", record.pk),
                after={"name": record.name},
            )
    return record
