"""Idempotency-Key handling for every POST and DELETE of the API.

Same key + same request replays the stored response; same key + another request is 409
IDEMPOTENCY_CONFLICT. Responses are stored with any full gateway key masked: keys exist
in full only in the response that created them.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction

from members.errors import Conflict, ValidationFailed
from members.models import IdempotencyRecord, Operation
from orgportal import clock

KEY_MAX = 255
# Responses a retry should be allowed to redo rather than replay.
_NOT_STORED = {409, 429}


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True)
    except (ValueError, UnicodeDecodeError):
        canonical = (body or b"").decode("latin-1")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def idempotency_claim(*, scope: str, key: str, method: str, path: str, body: bytes):
    """Returns (record, None) when this request should run, or (None, existing) to replay."""
    if len(key) > KEY_MAX or not key.strip():
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {KEY_MAX} characters",
            code="INVALID_IDEMPOTENCY_KEY",
        )
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                scope=scope,
                key=key,
                method=method,
                path=path,
                request_hash=fingerprint,
                status=IdempotencyRecord.Status.IN_PROGRESS,
                created_at=clock.now(),
            )
        return record, None
    except IntegrityError:
        existing = IdempotencyRecord.objects.select_related("operation").get(
            scope=scope, key=key
        )
    if existing.request_hash != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request",
            code="IDEMPOTENCY_CONFLICT",
            details={"first_used_for": f"{existing.method} {existing.path}"},
        )
    if (
        existing.status == IdempotencyRecord.Status.IN_PROGRESS
        and existing.operation_id is None
    ):
        raise Conflict(
            "A request with this Idempotency-Key is still being processed; retry shortly",
            code="IDEMPOTENCY_IN_PROGRESS",
        )
    return None, existing


def idempotency_link(record: IdempotencyRecord | None, operation: Operation) -> None:
    if record is not None:
        IdempotencyRecord.objects.filter(pk=record.pk).update(operation=operation)


def idempotency_finish(
    record: IdempotencyRecord, *, status: int, body: dict | None, keep: bool = True
) -> None:
    if status >= 500 or status in _NOT_STORED or not keep:
        # Nothing happened that a retry could repeat: free the key.
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.Status.DONE,
        response_status=status,
        response_body=_masked(body),
    )


def _masked(body):
    if isinstance(body, dict):
        out = {}
        for k, v in body.items():
            if k == "api_key" and isinstance(v, str) and len(v) > 20:
                out[k] = f"{v[:10]}…{v[-4:]}"
            else:
                out[k] = _masked(v)
        return out
    if isinstance(body, list):
        return [_masked(v) for v in body]
    return body


def idempotency_records_clean(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or clock.now()) - dt.timedelta(
        hours=settings.IDEMPOTENCY_KEY_TTL_HOURS
    )
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=cutoff, status=IdempotencyRecord.Status.DONE
    ).delete()
    return deleted


Render = Callable[[Operation], tuple[int, dict]]
