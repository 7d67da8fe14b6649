"""REST API for the parent SaaS backend: the Organization API mirror and its extensions.

Views parse input, call one service and shape the output; no business rule lives here.
"""

import datetime as dt
import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import pricing
from billing.money import format_amount
from billing.services import ledger
from members import inputs, selectors
from members.api_idempotency import idempotent
from members.errors import ServiceError, ValidationFailed
from members.models import Member, Operation
from members.services import idempotency, operations
from members.services.plans import plans_sync

ERROR = inline_serializer(
    "Error",
    fields={
        "success": serializers.BooleanField(),
        "error": serializers.CharField(),
        "code": serializers.CharField(),
        "details": serializers.DictField(),
    },
)
ERRORS = {code: ERROR for code in (400, 401, 402, 403, 404, 409, 413, 415, 502, 503)}
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description="Same key + same body replays the stored response, whole; another "
    "body: 409 IDEMPOTENCY_CONFLICT. While the first request runs: 409 "
    "IDEMPOTENCY_IN_PROGRESS for at most IDEMPOTENCY_LEASE_SECONDS, or 202 with its "
    "operation once that is recorded.",
)


def _actor(request: Request) -> str:
    return f"token:{request.user.name}"


# --- output shapes ----------------------------------------------------------------------


class MemberOut(serializers.Serializer):
    uid = serializers.CharField()
    email = serializers.CharField()
    full_name = serializers.CharField(allow_blank=True)
    role = serializers.CharField()
    plan = serializers.CharField()
    status = serializers.ChoiceField(choices=Member.Status.choices)
    created_at = serializers.CharField()
    plan_end_at = serializers.CharField()
    api_key = serializers.CharField(
        allow_null=True,
        help_text="The orgportal gateway key: in full only when created or rotated, "
        "otherwise masked.",
    )
    websocket_symbols = serializers.IntegerField()
    websocket_connections = serializers.IntegerField()
    newsfeed = serializers.BooleanField()
    rate_limit = serializers.IntegerField()
    quota = serializers.IntegerField()
    quota_exceeded = serializers.BooleanField()
    auto_renew = serializers.BooleanField()
    term_start = serializers.CharField()
    overrides = serializers.DictField(
        help_text="stricter per-member limits; null = upstream"
    )


class MemberEnvelope(serializers.Serializer):
    success = serializers.BooleanField()
    member = MemberOut()


class PendingOut(serializers.Serializer):
    success = serializers.BooleanField()
    pending = serializers.BooleanField()
    operation = serializers.DictField()


def _iso(value: dt.datetime) -> str:
    return (
        value.astimezone(dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def member_out(member: Member, *, api_key: str | None = None) -> dict:
    live = operations.member_live_key(member) if api_key is None else None
    tier = selectors.member_limits(member)
    return {
        "uid": member.uid,
        "email": member.email,
        "full_name": member.full_name,
        "role": "member",
        "plan": member.plan.name,
        "status": operations.effective_status(member),
        "created_at": _iso(member.upstream_created_at),
        "plan_end_at": _iso(member.term_end),
        "api_key": api_key or (live.masked if live else None),
        "websocket_symbols": tier["websocket_symbols"],
        "websocket_connections": tier["websocket_connections"],
        "newsfeed": tier["newsfeed"],
        "rate_limit": tier["rate_limit"],
        "quota": tier["quota"],
        "quota_exceeded": member.quota_exceeded,
        "auto_renew": member.auto_renew,
        "term_start": _iso(member.term_start),
        "overrides": {
            "rate_limit": member.override_rate_limit,
            "quota": member.override_quota,
            "websocket_symbols": member.override_websocket_symbols,
            "websocket_connections": member.override_websocket_connections,
            "newsfeed": member.override_newsfeed,
        },
    }


def operation_out(op: Operation) -> dict:
    return {
        "id": op.pk,
        "kind": op.kind,
        "uid": op.member_uid,
        "status": op.status,
        "amount": format_amount(op.amount),
        "error": op.error,
        "created_at": _iso(op.created_at),
        "resolved_at": _iso(op.resolved_at) if op.resolved_at else None,
    }


def _outcome_response(outcome: operations.Outcome) -> tuple[int, dict]:
    op = outcome.operation
    if op.status != Operation.Status.SUCCEEDED:
        return 202, {
            "success": True,
            "pending": True,
            "operation": operation_out(op),
        }
    if op.kind == Operation.Kind.DELETE:
        return 200, {
            "success": True,
            "message": "Member deleted",
            "operation": operation_out(op),
        }
    return 200, {
        "success": True,
        "member": member_out(outcome.member, api_key=outcome.api_key),
        "operation": operation_out(op),
    }


def _replay_operation(replay: idempotency.Replay) -> tuple[int, dict] | None:
    """A retried key bound to an operation answers with that operation's outcome. One
    whose caller died mid-call is decided here once no call can still be running; if it
    was not applied, None lets the request run again."""
    outcome = operations.operation_resolve(operation_id=replay.operation.pk)
    if outcome.operation.status == Operation.Status.FAILED:
        return None
    return _outcome_response(
        operations.Outcome(
            operation=outcome.operation,
            member=outcome.member,
            api_key=outcome.api_key or replay.issued_key,
        )
    )


def _mutate(request: Request, fn) -> Response:
    """A member mutation `fn(idempotency_key) -> Outcome` under Idempotency-Key."""
    key = request.headers.get("Idempotency-Key") or ""
    return idempotent(
        request,
        lambda: _outcome_response(fn(key)),
        local=False,
        replay_operation=_replay_operation,
    )


def _change(request: Request, fn) -> Response:
    """A local change `fn() -> (status, body)` under Idempotency-Key."""
    return idempotent(request, fn, local=True)


# --- input shapes ----------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A string, not a number that happens to print as one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """A JSON object with these fields and no others. A field the API does not take is
    refused by name, never ignored: a client sending e.g. `email` (which upstream
    generates) must learn that it has no effect."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected a JSON object"]}
            )
        if self.parent is None:
            _refuse_unknown_fields(self, data)
        return super().to_internal_value(data)


def _unknown_fields(serializer: serializers.Serializer, data: dict, prefix="") -> list:
    """Dotted names of the keys no writable field takes, nested objects included."""
    found = []
    for key, value in data.items():
        field = serializer.fields.get(key)
        if field is None or field.read_only:
            found.append(f"{prefix}{key}")
        elif isinstance(field, StrictSerializer) and isinstance(value, dict):
            found += _unknown_fields(field, value, prefix=f"{prefix}{key}.")
    return found


def _refuse_unknown_fields(serializer: serializers.Serializer, data: dict) -> None:
    unknown = _unknown_fields(serializer, data)
    if unknown:
        raise ValidationFailed(
            f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            code="UNKNOWN_FIELD",
            details={name: ["This API does not take this field."] for name in unknown},
        )


def _query_text(**kwargs) -> serializers.CharField:
    """A free-text query parameter: NUL and other control characters refused."""
    return serializers.CharField(
        max_length=100, validators=[inputs.refuse_control_chars], **kwargs
    )


def _count(**kwargs) -> serializers.IntegerField:
    """A count stored in an integer column: bounded by the column's range."""
    return serializers.IntegerField(
        min_value=0, max_value=inputs.INT_FIELD_MAX, **kwargs
    )


class CreateIn(StrictSerializer):
    uid = StrictCharField(max_length=100, trim_whitespace=False)
    plan = StrictCharField(max_length=100)
    full_name = StrictCharField(
        max_length=200, required=False, allow_blank=True, allow_null=True
    )
    auto_renew = serializers.BooleanField(required=False, allow_null=True, default=None)


class OverridesIn(StrictSerializer):
    rate_limit = _count(required=False, allow_null=True)
    quota = _count(required=False, allow_null=True)
    websocket_symbols = _count(required=False, allow_null=True)
    websocket_connections = _count(required=False, allow_null=True)
    newsfeed = serializers.BooleanField(required=False, allow_null=True)


class UpdateIn(StrictSerializer):
    plan = StrictCharField(max_length=100, required=False)
    full_name = StrictCharField(
        max_length=200, required=False, allow_blank=True, allow_null=True
    )
    auto_renew = serializers.BooleanField(required=False)
    overrides = OverridesIn(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                {"plan": ["Send a plan, or auto_renew / overrides to change settings."]}
            )
        if "full_name" in attrs and "plan" not in attrs:
            raise serializers.ValidationError(
                {"plan": ["Upstream changes the name only together with a plan."]}
            )
        return attrs


class CreditsIn(StrictSerializer):
    credits = serializers.IntegerField(
        min_value=1, max_value=pricing.MAX_PURCHASE_CREDITS
    )


class AdjustmentIn(StrictSerializer):
    # Non-zero, at most two places, below 100,000,000: a typo guard, not a business rule.
    amount = serializers.RegexField(
        r"^-?(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,7}(\.[0-9]{1,2})?)$",
        help_text='non-zero decimal string, e.g. "-10.00"',
    )
    reason = StrictCharField(max_length=250)


def _parse(serializer_cls, request: Request) -> dict:
    try:
        data = request.data if request.body else {}
    except RequestDataTooBig:
        # Served under ASGI, orgportal.bodylimit refuses such a body before it is read;
        # this is Django's own check of the same setting, for any other way in.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise ServiceError(
            f"Request body too large (limit {limit} bytes)",
            code="PAYLOAD_TOO_LARGE",
            status=413,
            details={"limit": limit},
        ) from None
    except RecursionError:
        # json.loads gives up on deep nesting with RecursionError, not a ValueError,
        # so the JSON parser lets it through.
        raise ValidationFailed(
            "Malformed JSON body: nested too deeply", code="INVALID_JSON"
        ) from None
    serializer = serializer_cls(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Organization API mirror ---------------------------------------------------------------


class PlansApi(APIView):
    class PlansOut(serializers.Serializer):
        success = serializers.BooleanField()
        regular_plans = serializers.ListField(child=serializers.DictField())
        custom_plans = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        responses={200: PlansOut, **ERRORS}, summary="List plans (regular and custom)"
    )
    def get(self, request):
        plans = selectors.plans_available()
        if not plans:
            plans_sync()
            plans = selectors.plans_available()
        return Response(selectors.plans_out(plans))


class MemberCreateApi(APIView):
    @extend_schema(
        request=CreateIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: MemberEnvelope, 202: PendingOut, **ERRORS},
        summary="Create a member (charged the plan's price)",
    )
    def post(self, request):
        data = _parse(CreateIn, request)
        return _mutate(
            request,
            lambda key: operations.member_create(
                uid=data["uid"],
                plan=data["plan"],
                full_name=data.get("full_name"),
                auto_renew=data.get("auto_renew"),
                actor=_actor(request),
                idempotency_key=key,
            ),
        )

    # A member may be called "create": its own path collides with this one, so GET and
    # DELETE here mean that member.
    @extend_schema(exclude=True)
    def get(self, request):
        return MemberDetailApi().get(request, uid="create")

    @extend_schema(exclude=True)
    def delete(self, request):
        return MemberDetailApi().delete(request, uid="create")


class MemberListApi(APIView):
    class MemberListOut(serializers.Serializer):
        success = serializers.BooleanField()
        members = MemberOut(many=True)
        page = serializers.IntegerField()
        limit = serializers.IntegerField()
        total = serializers.IntegerField()
        total_pages = serializers.IntegerField()

    class MemberListQuery(serializers.Serializer):
        page = serializers.IntegerField(min_value=1, max_value=10_000_000, default=1)
        limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
        status = serializers.ChoiceField(choices=Member.Status.choices, required=False)
        plan = _query_text(required=False)
        search = _query_text(required=False)

    @extend_schema(
        parameters=[MemberListQuery],
        responses={200: MemberListOut, **ERRORS},
        operation_id="organization_members_list",
        summary="List members (paginated)",
    )
    def get(self, request):
        query = self.MemberListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        members, total = selectors.members_page(
            page=q["page"],
            limit=q["limit"],
            status=q.get("status"),
            plan=q.get("plan"),
            search=q.get("search"),
        )
        return Response(
            {
                "success": True,
                "members": [member_out(m) for m in members],
                "page": q["page"],
                "limit": q["limit"],
                "total": total,
                "total_pages": math.ceil(total / q["limit"]) if total else 0,
            }
        )


class MemberDetailApi(APIView):
    class MemberDetailDeletedOut(serializers.Serializer):
        success = serializers.BooleanField()
        message = serializers.CharField()
        operation = serializers.DictField()

    @extend_schema(responses={200: MemberEnvelope, **ERRORS}, summary="Get a member")
    def get(self, request, uid):
        member = operations.member_get_live(uid)
        return Response({"success": True, "member": member_out(member)})

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: MemberDetailDeletedOut, 202: PendingOut, **ERRORS},
        summary="Delete a member (unused time credited; history kept)",
    )
    def delete(self, request, uid):
        return _mutate(
            request,
            lambda key: operations.member_delete(
                uid=uid, actor=_actor(request), idempotency_key=key
            ),
        )


class MemberUpdateApi(APIView):
    @extend_schema(
        request=UpdateIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: MemberEnvelope, 202: PendingOut, **ERRORS},
        summary="Change plan (prorated; the same plan renews) or settings",
    )
    def post(self, request, uid):
        data = _parse(UpdateIn, request)
        changes = {
            "auto_renew": data.get("auto_renew"),
            "overrides": dict(data.get("overrides") or {}),
        }
        if "plan" not in data:
            return _change(
                request,
                lambda: (
                    200,
                    {
                        "success": True,
                        "member": member_out(
                            operations.member_settings_update(
                                uid=uid, actor=_actor(request), **changes
                            )
                        ),
                    },
                ),
            )
        # The plan and any settings are one change: all applied, or none.
        return _mutate(
            request,
            lambda key: operations.member_change_plan(
                uid=uid,
                plan=data["plan"],
                full_name=data.get("full_name"),
                actor=_actor(request),
                idempotency_key=key,
                **changes,
            ),
        )


class MemberCancelApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: MemberEnvelope, 202: PendingOut, **ERRORS},
        summary="Cancel a member (unused time credited)",
    )
    def post(self, request, uid):
        return _mutate(
            request,
            lambda key: operations.member_cancel(
                uid=uid, actor=_actor(request), idempotency_key=key
            ),
        )


class MemberRenewApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: MemberEnvelope, 202: PendingOut, **ERRORS},
        summary="Renew for another term at full price",
    )
    def post(self, request, uid):
        return _mutate(
            request,
            lambda key: operations.member_renew(
                uid=uid, actor=_actor(request), idempotency_key=key
            ),
        )


class MemberRotateKeyApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: MemberEnvelope, **ERRORS},
        summary="Issue a new gateway key; the old one stops working at once",
    )
    def post(self, request, uid):
        def run():
            member, token = operations.member_key_rotate(uid=uid, actor=_actor(request))
            return 200, {"success": True, "member": member_out(member, api_key=token)}

        return _change(request, run)


class MemberRevokeKeysApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: MemberEnvelope, **ERRORS},
        summary="Revoke every gateway key of the member (rotate-key issues a new one)",
    )
    def post(self, request, uid):
        def run():
            member = operations.member_keys_revoke(uid=uid, actor=_actor(request))
            return 200, {"success": True, "member": member_out(member)}

        return _change(request, run)


class MemberPreviewApi(APIView):
    class MemberPreviewQuery(serializers.Serializer):
        plan = _query_text()
        # Years 1970..9000: the preview adds terms to `at`, which must stay inside
        # datetime's range.
        at = serializers.DateTimeField(
            required=False, validators=[inputs.refuse_far_dates]
        )

    class MemberPreviewOut(serializers.Serializer):
        success = serializers.BooleanField()
        uid = serializers.CharField()
        from_plan = serializers.CharField()
        to_plan = serializers.CharField()
        kind = serializers.CharField()
        charge = serializers.CharField()
        refund = serializers.CharField()
        balance = serializers.CharField()
        available = serializers.CharField()
        balance_after = serializers.CharField()
        sufficient = serializers.BooleanField()
        term_start = serializers.CharField()
        term_end = serializers.CharField()

    @extend_schema(
        parameters=[MemberPreviewQuery],
        responses={200: MemberPreviewOut, **ERRORS},
        summary="What a plan change would cost (no side effects)",
    )
    def get(self, request, uid):
        query = self.MemberPreviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        at = query.validated_data.get("at")
        preview = operations.member_preview(
            uid=uid, plan=query.validated_data["plan"], at=at
        )
        return Response(
            {
                "success": True,
                "uid": uid,
                "from_plan": preview.from_plan,
                "to_plan": preview.to_plan,
                "kind": "renew" if preview.from_plan == preview.to_plan else "change",
                "charge": format_amount(preview.charge),
                "refund": format_amount(preview.refund),
                "balance": format_amount(preview.balance),
                "available": format_amount(preview.available),
                "balance_after": format_amount(preview.balance_after),
                "sufficient": preview.amount <= preview.available,
                "term_start": _iso(preview.term_start),
                "term_end": _iso(preview.term_end),
            }
        )


# --- money ---------------------------------------------------------------------------


class ForecastOut(serializers.Serializer):
    window_days = serializers.IntegerField(
        help_text="days ahead the forecast looks (organisation setting)"
    )
    renewals = serializers.IntegerField(help_text="auto-renewals due in the window")
    due = serializers.CharField(help_text="what those renewals will cost")
    shortfall = serializers.CharField(
        help_text="credits missing to cover them; 0.00 when covered"
    )
    covered = serializers.BooleanField()


class BalanceApi(APIView):
    class BalanceOut(serializers.Serializer):
        success = serializers.BooleanField()
        balance = serializers.CharField()
        held = serializers.CharField()
        available = serializers.CharField()
        refundable = serializers.CharField()
        forecast = ForecastOut(help_text="can the wallet pay for the coming renewals")

    @extend_schema(responses={200: BalanceOut, **ERRORS}, summary="Wallet balance")
    def get(self, request):
        return Response({"success": True, **selectors.balance_out()})


class QuoteApi(APIView):
    class QuoteQuery(serializers.Serializer):
        credits = serializers.IntegerField(
            min_value=1, max_value=pricing.MAX_PURCHASE_CREDITS
        )

    class QuoteOut(serializers.Serializer):
        success = serializers.BooleanField()
        credits = serializers.IntegerField()
        unit_price = serializers.CharField()
        total = serializers.CharField()
        currency = serializers.CharField()
        tiers = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        parameters=[QuoteQuery],
        responses={200: QuoteOut, **ERRORS},
        summary="Price of a credit purchase (volume tiers)",
    )
    def get(self, request):
        query = self.QuoteQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = pricing.quote(query.validated_data["credits"])
        return Response(
            {
                "success": True,
                "credits": q.credits,
                "unit_price": format_amount(q.unit_price_cents),
                "total": format_amount(q.total_cents),
                "currency": "USD",
                "tiers": [
                    {"from": lowest, "unit_price": format_amount(price)}
                    for lowest, price in pricing.VOLUME_TIERS
                ],
            }
        )


class PurchaseApi(APIView):
    class PurchaseOut(serializers.Serializer):
        success = serializers.BooleanField()
        credits = serializers.IntegerField()
        unit_price = serializers.CharField()
        total = serializers.CharField()
        currency = serializers.CharField()
        balance = serializers.CharField()
        transaction_id = serializers.IntegerField()

    @extend_schema(
        request=CreditsIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: PurchaseOut, **ERRORS},
        summary="Record a credit purchase",
    )
    def post(self, request):
        data = _parse(CreditsIn, request)

        def run():
            lot = ledger.credits_purchase(
                credits=data["credits"], actor=_actor(request)
            )
            return (
                200,
                {
                    "success": True,
                    "credits": lot.credits,
                    "unit_price": format_amount(lot.unit_price_cents),
                    "total": format_amount(lot.total_cents),
                    "currency": "USD",
                    "balance": format_amount(
                        ledger.account_system(ledger.WALLET).balance
                    ),
                    "transaction_id": lot.transaction_id,
                },
            )

        return _change(request, run)


class RefundApi(APIView):
    class RefundOut(serializers.Serializer):
        success = serializers.BooleanField()
        credits = serializers.IntegerField()
        gross = serializers.CharField()
        fee = serializers.CharField()
        net = serializers.CharField()
        currency = serializers.CharField()
        balance = serializers.CharField()
        transaction_id = serializers.IntegerField()

    @extend_schema(
        request=CreditsIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: RefundOut, **ERRORS},
        summary="Refund credits for cash (at lot cost, minus a 10% fee)",
    )
    def post(self, request):
        data = _parse(CreditsIn, request)

        def run():
            refund = ledger.credits_refund(
                credits=data["credits"], actor=_actor(request)
            )
            return (
                200,
                {
                    "success": True,
                    "credits": data["credits"],
                    "gross": format_amount(refund.gross_cents),
                    "fee": format_amount(refund.fee_cents),
                    "net": format_amount(refund.net_cents),
                    "currency": "USD",
                    "balance": format_amount(
                        ledger.account_system(ledger.WALLET).balance
                    ),
                    "transaction_id": refund.transaction_id,
                },
            )

        return _change(request, run)


class AdjustmentApi(APIView):
    class AdjustmentOut(serializers.Serializer):
        success = serializers.BooleanField()
        transaction_id = serializers.IntegerField()
        balance = serializers.CharField()

    @extend_schema(
        request=AdjustmentIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: AdjustmentOut, **ERRORS},
        summary="Manual wallet adjustment",
    )
    def post(self, request):
        from billing.money import parse_amount

        data = _parse(AdjustmentIn, request)

        def run():
            txn = ledger.ledger_adjust(
                amount=parse_amount(data["amount"]),
                reason=data["reason"],
                actor=_actor(request),
            )
            return (
                200,
                {
                    "success": True,
                    "transaction_id": txn.pk,
                    "balance": format_amount(
                        ledger.account_system(ledger.WALLET).balance
                    ),
                },
            )

        return _change(request, run)


class LedgerApi(APIView):
    class LedgerQuery(serializers.Serializer):
        kind = serializers.ChoiceField(
            choices=[c for c, _ in selectors.LedgerTransaction.Kind.choices],
            required=False,
        )
        uid = _query_text(required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        cursor = serializers.RegexField(
            selectors.CURSOR_PATTERN,
            required=False,
            help_text="next_cursor from the previous page",
        )
        limit = serializers.IntegerField(min_value=1, max_value=500, default=50)

    class LedgerOut(serializers.Serializer):
        success = serializers.BooleanField()
        transactions = serializers.ListField(child=serializers.DictField())
        next_cursor = serializers.CharField(allow_null=True)

    @extend_schema(
        parameters=[LedgerQuery],
        responses={200: LedgerOut, **ERRORS},
        summary="Ledger transactions, newest first (cursor pagination)",
    )
    def get(self, request):
        query = self.LedgerQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        try:
            before_id = (
                selectors.cursor_decode(q["cursor"]) if q.get("cursor") else None
            )
        except ValueError:
            raise ValidationFailed(
                "cursor is not one this API gave out", code="INVALID_CURSOR"
            ) from None
        rows, next_cursor = selectors.ledger_page(
            kind=q.get("kind"),
            uid=q.get("uid"),
            since=q.get("since"),
            until=q.get("until"),
            before_id=before_id,
            limit=q["limit"],
        )
        return Response(
            {"success": True, "transactions": rows, "next_cursor": next_cursor}
        )


class OperationApi(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "OperationEnvelope",
                {
                    "success": serializers.BooleanField(),
                    "operation": serializers.DictField(),
                },
            ),
            **ERRORS,
        },
        summary="An operation's status (for 202 answers)",
    )
    def get(self, request, operation_id: int):
        op = Operation.objects.filter(pk=operation_id).first()
        if op is None:
            raise ServiceError(
                f"No operation {operation_id}", code="NOT_FOUND", status=404
            )
        return Response({"success": True, "operation": operation_out(op)})
