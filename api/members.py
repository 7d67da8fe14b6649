"""Members: create, list, read, change, cancel, renew and delete, as the Organization API
mirror answers them. A mutation that calls upstream answers 202 with its operation when
upstream's answer is not known yet."""

import math
from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.idempotency import (
    idempotency_key,
    idempotent,
    idempotent_operation,
    idempotent_schema,
)
from api.inputs import (
    StrictCharField,
    StrictSerializer,
    actor,
    count,
    parse,
    query_text,
)
from api.operations import operation_out
from api.outputs import SuccessOut, read_action
from members import selectors
from members.models import Member, Operation
from members.services import idempotency, operations
from members.status import status_at
from orgportal import clock
from orgportal.clock import iso


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


class MemberEnvelope(SuccessOut):
    member = MemberOut()


class PendingOut(SuccessOut):
    pending = serializers.BooleanField()
    operation = serializers.DictField()


def member_out(member: Member, *, api_key: str | None = None) -> dict:
    tier = selectors.member_limits(member)
    return {
        "uid": member.uid,
        "email": member.email,
        "full_name": member.full_name,
        "role": "member",
        "plan": member.plan.name,
        "status": status_at(member.status, member.term_end, clock.now()),
        "created_at": iso(member.upstream_created_at),
        "plan_end_at": iso(member.term_end),
        "api_key": api_key or operations.member_key_masked(member),
        "websocket_symbols": tier["websocket_symbols"],
        "websocket_connections": tier["websocket_connections"],
        "newsfeed": tier["newsfeed"],
        "rate_limit": tier["rate_limit"],
        "quota": tier["quota"],
        "quota_exceeded": member.quota_exceeded,
        "auto_renew": member.auto_renew,
        "term_start": iso(member.term_start),
        "overrides": selectors.member_overrides(member),
    }


def outcome_response(outcome: operations.Outcome) -> tuple[int, dict]:
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


def replay_operation(replay: idempotency.Replay) -> tuple[int, dict] | None:
    """A retried key bound to an operation answers with that operation's outcome. One
    whose caller died mid-call is decided here once no call can still be running; if it
    was not applied, None lets the request run again."""
    outcome = operations.operation_resolve(operation_id=replay.operation.pk)
    if outcome.operation.status == Operation.Status.FAILED:
        return None
    return outcome_response(
        operations.Outcome(
            operation=outcome.operation,
            member=outcome.member,
            api_key=outcome.api_key or replay.issued_key,
        )
    )


def member_operation(
    request: Request, mutate: Callable[..., operations.Outcome]
) -> Response:
    """Answer a member mutation that calls upstream: `mutate(actor=...,
    idempotency_key=...)` runs outside any transaction, its operation binds the
    request's Idempotency-Key, the settle stores its answer, and a retry replays that
    operation's outcome."""
    return idempotent_operation(
        request,
        lambda: mutate(actor=actor(request), idempotency_key=idempotency_key(request)),
        respond=outcome_response,
        replay_operation=replay_operation,
    )


class CreateIn(StrictSerializer):
    uid = StrictCharField(max_length=100, trim_whitespace=False)
    plan = StrictCharField(max_length=100)
    full_name = StrictCharField(
        max_length=200, required=False, allow_blank=True, allow_null=True
    )
    auto_renew = serializers.BooleanField(required=False, allow_null=True, default=None)


class OverridesIn(StrictSerializer):
    rate_limit = count(required=False, allow_null=True)
    quota = count(required=False, allow_null=True)
    websocket_symbols = count(required=False, allow_null=True)
    websocket_connections = count(required=False, allow_null=True)
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


class MemberCreateApi(APIView):
    @idempotent_schema(
        {200: MemberEnvelope, 202: PendingOut},
        request=CreateIn,
        summary="Create a member (charged the plan's price)",
    )
    def post(self, request):
        data = parse(CreateIn, request)
        return member_operation(
            request,
            lambda **caller: operations.member_create(
                uid=data["uid"],
                plan=data["plan"],
                full_name=data.get("full_name"),
                auto_renew=data.get("auto_renew"),
                **caller,
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
    class MemberListOut(SuccessOut):
        members = MemberOut(many=True)
        page = serializers.IntegerField()
        limit = serializers.IntegerField()
        total = serializers.IntegerField()
        total_pages = serializers.IntegerField()

    class MemberListQuery(serializers.Serializer):
        page = serializers.IntegerField(min_value=1, max_value=10_000_000, default=1)
        limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
        status = serializers.ChoiceField(choices=Member.Status.choices, required=False)
        plan = query_text(required=False)
        search = query_text(required=False)

    @read_action(
        MemberListOut,
        query=MemberListQuery,
        operation_id="organization_members_list",
        summary="List members (paginated)",
    )
    def get(self, request, query):
        members, total = selectors.members_page(
            page=query["page"],
            limit=query["limit"],
            status=query.get("status"),
            plan=query.get("plan"),
            search=query.get("search"),
        )
        return {
            "success": True,
            "members": [member_out(m) for m in members],
            "page": query["page"],
            "limit": query["limit"],
            "total": total,
            "total_pages": math.ceil(total / query["limit"]) if total else 0,
        }


class MemberDetailApi(APIView):
    class MemberDetailDeletedOut(SuccessOut):
        message = serializers.CharField()
        operation = serializers.DictField()

    @read_action(MemberEnvelope, summary="Get a member")
    def get(self, request, uid):
        member = operations.member_get_live(uid)
        return {"success": True, "member": member_out(member)}

    @idempotent_schema(
        {200: MemberDetailDeletedOut, 202: PendingOut},
        summary="Delete a member (unused time credited; history kept)",
    )
    def delete(self, request, uid):
        return member_operation(
            request, lambda **caller: operations.member_delete(uid=uid, **caller)
        )


class MemberUpdateApi(APIView):
    @idempotent_schema(
        {200: MemberEnvelope, 202: PendingOut},
        request=UpdateIn,
        summary="Change plan (prorated; the same plan renews) or settings",
    )
    def post(self, request, uid):
        data = parse(UpdateIn, request)
        changes = {
            "auto_renew": data.get("auto_renew"),
            "overrides": dict(data.get("overrides") or {}),
        }
        if "plan" not in data:
            return idempotent(
                request,
                lambda: (
                    200,
                    {
                        "success": True,
                        "member": member_out(
                            operations.member_settings_update(
                                uid=uid, actor=actor(request), **changes
                            )
                        ),
                    },
                ),
            )
        # The plan and any settings are one change: all applied, or none.
        return member_operation(
            request,
            lambda **caller: operations.member_change_plan(
                uid=uid,
                plan=data["plan"],
                full_name=data.get("full_name"),
                **changes,
                **caller,
            ),
        )
