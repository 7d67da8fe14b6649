"""Idempotency-Key for the API's POST, PUT, PATCH and DELETE views: claim the key, run
the view's change, store or replay its response. The rules live in
`members.services.idempotency`."""

import functools
from collections.abc import Callable

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from api.errors import ERRORS
from api.inputs import parse
from members.errors import api_exception_handler
from members.services import idempotency

Run = Callable[[], tuple[int, dict]]
# None: the operation was not applied after all, and the request may run again.
ReplayOperation = Callable[[idempotency.Replay], tuple[int, dict] | None]

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description="Same key + same body replays the stored response, whole; another "
    "body: 409 IDEMPOTENCY_CONFLICT. While the first request runs: 409 "
    "IDEMPOTENCY_IN_PROGRESS for at most IDEMPOTENCY_LEASE_SECONDS, or 202 with its "
    "operation once that is recorded.",
)


def idempotent_schema(responses: dict, *, errors: dict = ERRORS, **kwargs):
    """The OpenAPI description of a view method that answers through `idempotent`: the
    Idempotency-Key header, its `responses`, then the error answers; `kwargs` as
    extend_schema takes them."""
    return extend_schema(
        parameters=[IDEMPOTENCY_HEADER], responses={**responses, **errors}, **kwargs
    )


def idempotent_action(
    responses: dict,
    *,
    body: type[Serializer] | None = None,
    body_under_key: bool = False,
    local: bool = True,
    **schema,
):
    """Make a view method that returns (status, body) answer under the request's
    Idempotency-Key (`idempotent`, `local` as it takes it), described by
    `idempotent_schema(responses, **schema)`.

    `body`: the JSON body's serializer; the method gets the body as `data`. It is
    parsed before the key is claimed, so a refused body is not stored against the key;
    with `body_under_key`, under the key, so a retry of a refused body replays its
    refusal."""
    if body is not None:
        schema["request"] = body

    def decorate(method: Callable[..., tuple[int, dict]]):
        @idempotent_schema(responses, **schema)
        @functools.wraps(method)
        def view(self, request: Request, **path) -> Response:
            if body is not None and not body_under_key:
                path["data"] = parse(body, request)

            def run() -> tuple[int, dict]:
                if body_under_key:
                    path["data"] = parse(body, request)
                return method(self, request, **path)

            return idempotent(request, run, local=local)

        return view

    return decorate


def idempotency_key(request: Request) -> str:
    """The request's Idempotency-Key, "" without one (what operations record)."""
    return request.headers.get("Idempotency-Key") or ""


def idempotent(
    request: Request,
    run: Run,
    *,
    local: bool = True,
    replay_operation: ReplayOperation | None = None,
) -> Response:
    """Answer `run()` under the request's Idempotency-Key, if it sent one.

    `local`: the change is made in this database only, so it runs in one transaction
    with storing its response. Otherwise it calls out (upstream, a webhook) and never
    runs inside a transaction. A member mutation's operation binds the key when it is
    recorded, and `replay_operation` renders that operation's outcome for a retry.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        status, body = _run(run, local=local)
        return Response(body, status=status)
    claim = None
    for _ in range(2):
        claim, replay = idempotency.idempotency_claim(
            scope=f"token:{request.user.pk}",
            key=key,
            method=request.method,
            path=request.path,
            body=request.body,
        )
        if replay is None:
            break
        answer = (
            replay_operation(replay)
            if replay.operation is not None
            else (replay.status, replay.body)
        )
        if answer is not None:
            status, body = answer
            return Response(
                body, status=status, headers={"Idempotent-Replayed": "true"}
            )
        # The operation turned out not applied (nothing charged): run the request anew.
    if claim is None:
        raise RuntimeError("an Idempotency-Key neither replayed nor claimed")
    try:
        with idempotency.idempotency_scope(claim):
            status, body = _run(run, local=local, claim=claim)
    except Exception as exc:
        _finish_refused(claim, exc)
        raise
    if not local and status != 202:
        # 202: the key stays bound to the operation, which answers retries.
        idempotency.idempotency_finish(claim, status=status, body=body)
    return Response(body, status=status)


def idempotent_operation(
    request: Request,
    mutate: Callable[[], object],
    *,
    respond: Callable[[object], tuple[int, dict]],
    replay_operation: ReplayOperation,
) -> Response:
    """Answer a member mutation, `respond(mutate())`, under the request's
    Idempotency-Key with no commit of the key's own: the key is claimed by the insert
    that binds it in the transaction recording the operation, and the response stored
    by the transaction settling it (members.services.idempotency, Deferred).

    When the mutation fails before its operation is recorded (the key was in use, or a
    refusal), nothing was changed: the request is then answered as `idempotent` answers
    it, from the key's earlier use, or run again under a claim that stores its answer."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        status, body = respond(mutate())
        return Response(body, status=status)
    deferred = idempotency.idempotency_deferred(
        scope=f"token:{request.user.pk}",
        key=key,
        method=request.method,
        path=request.path,
        body=request.body,
        respond=respond,
    )
    try:
        with idempotency.idempotency_scope(deferred):
            outcome = mutate()
    except Exception as exc:
        claim = deferred.claim()
        if claim is None:
            return idempotent(
                request,
                lambda: respond(mutate()),
                local=False,
                replay_operation=replay_operation,
            )
        _finish_refused(claim, exc)
        raise
    if deferred.answer is not None:  # stored with the settle
        status, body = deferred.answer
        return Response(body, status=status)
    status, body = respond(outcome)
    if status != 202:
        # Settled by another process meanwhile; 202: the key stays bound to the
        # operation, which answers retries.
        idempotency.idempotency_finish(deferred.claim(), status=status, body=body)
    return Response(body, status=status)


def _finish_refused(claim: idempotency.Claim, exc: Exception) -> None:
    """Store the error answer `exc` makes (or free the key, for answers a retry may
    redo)."""
    response = api_exception_handler(exc, {})
    idempotency.idempotency_finish(
        claim,
        status=response.status_code if response is not None else 500,
        body=response.data if response is not None else None,
    )


def _run(
    run: Run, *, local: bool, claim: idempotency.Claim | None = None
) -> tuple[int, dict]:
    if not local:
        return run()
    with transaction.atomic():
        status, body = run()
        if claim is not None:
            idempotency.idempotency_finish(claim, status=status, body=body)
    return status, body
