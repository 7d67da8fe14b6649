"""The audit trail: one row per state change, written in the same transaction as the
change. Inside `audit_batch()` the rows are kept and written together, in one INSERT,
when the block ends (a change that makes several writes them in one round trip)."""

import contextlib
import contextvars
from typing import Any

from members.models import AuditEvent
from orgportal import clock

_batch: contextvars.ContextVar[list[AuditEvent] | None] = contextvars.ContextVar(
    "audit_batch", default=None
)


def audit_record(
    *,
    actor: str,
    action: str,
    obj: tuple[str, Any],
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """One row per state change, written in the same transaction as the change (in a
    batch: when the batch ends, still inside that transaction)."""
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
    batch = _batch.get()
    if batch is None:
        event.save(force_insert=True)
    else:
        batch.append(event)
    return event


@contextlib.contextmanager
def audit_batch():
    """Rows recorded in the block are written in one INSERT at its end, in the order
    they were recorded; none if the block raises (its transaction rolls back)."""
    batch: list[AuditEvent] = []
    reset = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(reset)
    if batch:
        AuditEvent.objects.bulk_create(batch)
