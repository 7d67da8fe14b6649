"""Operations: the record of a member mutation, which a 202 answer points to."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import ERRORS
from billing.money import format_amount
from members.errors import ServiceError
from members.models import Operation
from orgportal.clock import iso


def operation_out(op: Operation) -> dict:
    return {
        "id": op.pk,
        "kind": op.kind,
        "uid": op.member_uid,
        "status": op.status,
        "amount": format_amount(op.amount),
        "error": op.error,
        "created_at": iso(op.created_at),
        "resolved_at": iso(op.resolved_at),
    }


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
