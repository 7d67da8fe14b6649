"""The audit trail: one row per state change, written in the same transaction as the
change (inside `members.services.writes.writes_together`, with the change's other
writes)."""

from typing import Any

from members.models import AuditEvent
from members.services.writes import insert_later
from orgportal import clock


def audit_record(
    *,
    actor: str,
    action: str,
    obj: tuple[str, Any],
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """One row per state change, written in the same transaction as the change."""
    object_type, object_id = obj
    event = AuditEvent(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        created_at=clock.now(),
    )
    insert_later(event)
    return event
