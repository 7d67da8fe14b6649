"""A member's local settings (auto-renew and limit overrides): kept here, never sent
upstream, and changed alone or together with a plan change."""

from django.db import transaction

from members.errors import ServiceError
from members.models import Member
from members.selectors import member_overrides
from members.services import cache_events
from members.services.audit import audit_record
from members.services.operations.state import member_get_live
from orgportal import clock

OVERRIDES = (
    "rate_limit",
    "quota",
    "websocket_symbols",
    "websocket_connections",
    "newsfeed",
)


def settings_checked(*, auto_renew: bool | None, overrides: dict | None) -> dict:
    """The local settings a change carries, checked: {"auto_renew": bool, "overrides":
    {name: value}}, only what is being changed."""
    for name in overrides or {}:
        if name not in OVERRIDES:
            raise ServiceError(
                f"Unknown override {name!r}",
                code="VALIDATION_ERROR",
                details={"overrides": [f"one of {list(OVERRIDES)}"]},
            )
    changes = {}
    if auto_renew is not None:
        changes["auto_renew"] = bool(auto_renew)
    if overrides:
        changes["overrides"] = dict(overrides)
    return changes


def settings_apply(member: Member, changes: dict) -> None:
    """Set on `member` (unsaved) what `changes` carries; settings it leaves out keep
    their value."""
    if "auto_renew" in changes:
        member.auto_renew = changes["auto_renew"]
    for name, value in changes.get("overrides", {}).items():
        setattr(member, f"override_{name}", value)


def member_settings_update(
    *,
    uid: str,
    actor: str,
    auto_renew: bool | None = None,
    overrides: dict | None = None,
) -> Member:
    """Local-only settings: no upstream call, no money."""
    changes = settings_checked(auto_renew=auto_renew, overrides=overrides)
    with transaction.atomic():
        member = member_get_live(uid, lock=True)
        before = {"auto_renew": member.auto_renew, **member_overrides(member)}
        settings_apply(member, changes)
        member.updated_at = clock.now()
        member.save()
        audit_record(
            actor=actor,
            action="member.settings",
            obj=("member", member.uid),
            before=before,
            after={"auto_renew": member.auto_renew, **member_overrides(member)},
        )
    transaction.on_commit(lambda: cache_events.member_changed(member.pk))
    return member
