"""A member's gateway keys: rotated or revoked by staff, with no upstream call."""

from django.db import transaction

from members.models import GatewayKey, Member
from members.services import cache_events
from members.services.keys import gateway_key_issue, gateway_keys_revoke
from members.services.operations.state import member_get_live


def member_key_rotate(*, uid: str, actor: str) -> tuple[Member, str]:
    member = member_get_live(uid)
    token = gateway_key_issue(member=member, actor=actor)
    transaction.on_commit(lambda: cache_events.member_changed(member.pk))
    return member, token


def member_keys_revoke(*, uid: str, actor: str) -> Member:
    member = member_get_live(uid)
    gateway_keys_revoke(member=member, actor=actor)
    transaction.on_commit(lambda: cache_events.member_changed(member.pk))
    return member


def member_live_key(member: Member) -> GatewayKey | None:
    return member.gateway_keys.filter(revoked_at=None).first()


def member_key_masked(member: Member) -> str | None:
    """The member's live gateway key, masked; read with the member if it was
    (`member_lock(settling=True)`), else now."""
    if "live_key_masked" in member.__dict__:
        return member.live_key_masked
    live = member_live_key(member)
    return live.masked if live else None
