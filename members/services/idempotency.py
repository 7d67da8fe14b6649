"""Idempotency-Key handling for every POST and DELETE of the API.

Same key + same request replays the outcome; same key + another request is 409
IDEMPOTENCY_CONFLICT. The rules that keep a key from being stuck or charging twice:

- A request claims its key with a random claim token and a lease
  (IDEMPOTENCY_LEASE_SECONDS). Until it is bound or finished, a retry gets 409
  IDEMPOTENCY_IN_PROGRESS; once the lease has run out, a retry takes the claim over.
- A member mutation binds the key to its Operation in the transaction that records the
  operation (`idempotency_bind`); a local change finishes the key in the transaction that
  makes the change (`idempotency_finish` inside the caller's atomic block). Both check
  the claim token, so a request whose claim was taken over changes nothing. A process
  killed at any point therefore leaves either no effect (the claim is taken over after the
  lease) or an operation the key is bound to (a retry answers with its outcome).
- A member mutation's claim is deferred (`idempotency_deferred`): the key is inserted,
  already bound, by the transaction that records the operation, and its response is
  stored by the transaction that settles it (`idempotency_settled`), so the key costs
  the mutation no commit of its own. A key found taken at that insert (KeyInUse) rolls
  the recording back; nothing was changed, and the request is answered from the key
  as a claimed one would be.
- The longest a key answers IDEMPOTENCY_IN_PROGRESS is the lease. A key bound to an
  operation answers 202 with the operation while upstream's answer is unknown, and the
  final response once it is settled.
- Responses are stored whole, Fernet-encrypted (they may hold a gateway key or a webhook
  secret), and dropped with the record after IDEMPOTENCY_KEY_TTL_HOURS.
"""

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q

from members.crypto import decrypt, encrypt
from members.errors import Conflict, ValidationFailed
from members.models import IdempotencyRecord, Operation
from members.services.rows import insert_once
from members.services.writes import Write, update_later
from orgportal import clock

KEY_MAX = 255
# Answers a retry should be allowed to redo rather than replay: nothing happened.
_NOT_STORED = {409, 429}
_TAKEN_OVER = (
    "This request's Idempotency-Key was taken over by a retry after its lease ran out; "
    "nothing was changed by this request"
)

# The claim of the request being served in this context, for `idempotency_bind`.
_current: contextvars.ContextVar["Claim | Deferred | None"] = contextvars.ContextVar(
    "idempotency_claim", default=None
)


@dataclass(frozen=True)
class Claim:
    record_id: int
    token: str


@dataclass
class Deferred:
    """A member mutation's claim on its key, not yet made: the insert that binds the key
    to the operation makes it (`idempotency_bind`), and the settle stores the response
    that `respond(outcome)` gives (`idempotency_settled`)."""

    scope: str
    key: str
    method: str
    path: str
    request_hash: str
    token: str
    respond: Callable[[Any], tuple[int, dict]]
    record_id: int | None = None  # once the operation is recorded
    operation_id: int | None = None
    answer: tuple[int, dict] | None = None  # stored with the settle

    def claim(self) -> Claim | None:
        """The claim, once the key is recorded."""
        return None if self.record_id is None else Claim(self.record_id, self.token)


class KeyInUse(Exception):
    """A deferred claim's key is already recorded: the transaction recording the
    operation rolls back, and the key's earlier use answers the request."""


@dataclass(frozen=True)
class Replay:
    """What a retried key answers: a stored response, or the operation it is bound to."""

    status: int | None = None
    body: dict | None = None
    operation: Operation | None = None
    issued_key: str | None = None


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True)
    except (ValueError, UnicodeDecodeError):
        canonical = (body or b"").decode("latin-1")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)


def idempotency_claim(
    *, scope: str, key: str, method: str, path: str, body: bytes
) -> tuple[Claim | None, Replay | None]:
    """(claim, None) when this request should run, or (None, replay) to answer from the
    key's earlier use."""
    _key_checked(key)
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    token = uuid.uuid4().hex
    now = clock.now()
    record = insert_once(
        _claimed(
            scope=scope,
            key=key,
            method=method,
            path=path,
            request_hash=fingerprint,
            token=token,
            now=now,
            lease_until=now + lease(),
        )
    )
    if record is not None:
        return Claim(record.pk, token), None
    existing = IdempotencyRecord.objects.select_related("operation").get(
        scope=scope, key=key
    )
    if existing.request_hash != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request",
            code="IDEMPOTENCY_CONFLICT",
            details={"first_used_for": f"{existing.method} {existing.path}"},
        )
    if existing.status == IdempotencyRecord.Status.DONE:
        return None, Replay(
            status=existing.response_status,
            body=json.loads(decrypt(existing.response_encrypted)),
        )
    op = existing.operation
    if op is not None and op.status != Operation.Status.FAILED:
        issued = existing.issued_key_encrypted
        return None, Replay(
            operation=op, issued_key=decrypt(issued) if issued else None
        )
    # Unbound, or bound to an operation that failed (nothing was charged): the key may be
    # used again once no earlier request can still bind or finish it.
    taken = IdempotencyRecord.objects.filter(
        Q(operation=None, lease_until__lte=now)
        | Q(operation__status=Operation.Status.FAILED),
        pk=existing.pk,
        status=IdempotencyRecord.Status.IN_PROGRESS,
    ).update(claim=token, lease_until=now + lease(), operation=None)
    if taken:
        return Claim(existing.pk, token), None
    wait = max((existing.lease_until or now) - now, dt.timedelta(0))
    raise Conflict(
        "A request with this Idempotency-Key is still being processed; retry in "
        f"{wait.total_seconds():.0f} s",
        code="IDEMPOTENCY_IN_PROGRESS",
        details={"retry_after_seconds": max(1, round(wait.total_seconds()))},
    )


def _claimed(*, token: str, now: dt.datetime, **fields) -> IdempotencyRecord:
    """A new record of a key held by the request whose claim token is `token`
    (`fields`: the request's scope, key, method, path and hash, and the record's lease
    or operation)."""
    return IdempotencyRecord(
        status=IdempotencyRecord.Status.IN_PROGRESS,
        claim=token,
        created_at=now,
        **fields,
    )


def _key_checked(key: str) -> None:
    if len(key) > KEY_MAX or not key.strip() or "\x00" in key:
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {KEY_MAX} printable characters",
            code="INVALID_IDEMPOTENCY_KEY",
        )


def idempotency_deferred(
    *,
    scope: str,
    key: str,
    method: str,
    path: str,
    body: bytes,
    respond: Callable[[Any], tuple[int, dict]],
) -> Deferred:
    """A member mutation's claim on `key`, made when its operation is recorded; run the
    mutation in `idempotency_scope` of it."""
    _key_checked(key)
    return Deferred(
        scope=scope,
        key=key,
        method=method,
        path=path,
        request_hash=request_fingerprint(method=method, path=path, body=body),
        token=uuid.uuid4().hex,
        respond=respond,
    )


@contextlib.contextmanager
def idempotency_scope(claim: Claim | Deferred | None):
    """Makes `claim` the one `idempotency_bind` binds while the block runs."""
    reset = _current.set(claim)
    try:
        yield
    finally:
        _current.reset(reset)


def idempotency_bind(operation: Operation) -> None:
    """Bind the current request's key to `operation`. Call in the transaction that
    records the operation: if the claim was taken over, this raises and the operation is
    never recorded."""
    claim = _current.get()
    if claim is None:
        return
    if isinstance(claim, Deferred):
        _deferred_bind(claim, operation)
        return
    bound = IdempotencyRecord.objects.filter(
        pk=claim.record_id,
        claim=claim.token,
        status=IdempotencyRecord.Status.IN_PROGRESS,
        operation=None,
    ).update(operation=operation, lease_until=None)
    if not bound:
        raise Conflict(_TAKEN_OVER, code="IDEMPOTENCY_IN_PROGRESS")


def _deferred_bind(claim: Deferred, operation: Operation) -> None:
    """The key recorded, bound to `operation`, by one insert in the transaction that
    records it; a key already recorded ends that transaction (no savepoint: nothing
    of it is kept)."""
    record = _claimed(
        scope=claim.scope,
        key=claim.key,
        method=claim.method,
        path=claim.path,
        request_hash=claim.request_hash,
        token=claim.token,
        now=clock.now(),
        operation=operation,
    )
    try:
        with transaction.atomic(savepoint=False):
            record.save(force_insert=True)
    except IntegrityError:
        raise KeyInUse(claim.key) from None
    claim.record_id, claim.operation_id = record.pk, operation.pk


def idempotency_settled(outcome: Any) -> None:
    """In the transaction that settles `outcome.operation`: the response of the request
    that recorded it, stored (its deferred claim), or else a gateway key the operation
    issued, kept on the keys bound to it."""
    claim = _current.get()
    operation = outcome.operation
    if isinstance(claim, Deferred) and claim.operation_id == operation.pk:
        status, body = claim.respond(outcome)
        _store(claim.claim(), status, body)
        claim.answer = (status, body)
    elif outcome.api_key:
        idempotency_keep_issued_key(operation, outcome.api_key)


def _store(claim: Claim, status: int, body: dict | None) -> Write:
    """Store the answer on the claimed record (with the transaction's other writes,
    inside `writes_together`); `.rows`: whether the claim still held it."""
    return update_later(
        IdempotencyRecord.objects.filter(pk=claim.record_id, claim=claim.token),
        status=IdempotencyRecord.Status.DONE,
        response_status=status,
        response_encrypted=encrypt(json.dumps(body, cls=DjangoJSONEncoder)),
        lease_until=None,
    )


def idempotency_keep_issued_key(operation: Operation, api_key: str) -> None:
    """Keep, encrypted, a gateway key that `operation` issued on the keys bound to it:
    the response that carried it may never reach the client."""
    IdempotencyRecord.objects.filter(operation=operation).update(
        issued_key_encrypted=encrypt(api_key)
    )


def idempotency_finish(claim: Claim, *, status: int, body: dict | None) -> None:
    """Store the response of the request holding `claim`. Called inside the transaction
    of a local change, it makes the change and the stored response commit together."""
    if status >= 500 or status in _NOT_STORED:
        # Nothing happened that a retry could repeat: free the key.
        IdempotencyRecord.objects.filter(pk=claim.record_id, claim=claim.token).delete()
        return
    stored = _store(claim, status, body).rows
    if not stored and transaction.get_connection().in_atomic_block:
        raise Conflict(_TAKEN_OVER, code="IDEMPOTENCY_IN_PROGRESS")


def idempotency_records_clean(*, now: dt.datetime | None = None) -> int:
    """Drop records (and the responses they keep) older than the TTL, except keys whose
    operation is still being decided."""
    cutoff = (now or clock.now()) - dt.timedelta(
        hours=settings.IDEMPOTENCY_KEY_TTL_HOURS
    )
    deleted, _ = (
        IdempotencyRecord.objects.filter(created_at__lt=cutoff)
        .exclude(operation__status__in=Operation.IN_FLIGHT)
        .delete()
    )
    return deleted
