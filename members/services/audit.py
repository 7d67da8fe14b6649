from typing import Any

from members.models import AuditEvent
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
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        created_at=clock.now(),
    )
