"""Operations: the record of a member mutation, which a 202 answer points to."""

from rest_framework import serializers
from rest_framework.views import APIView

from api.outputs import SuccessOut, read_action, row_out
from billing.money import format_amount
from members.errors import ServiceError
from members.models import Operation

# What OperationEnvelope's `operation` holds, in order.
_OPERATION_FIELDS = "id kind uid status amount error created_at resolved_at".split()


def operation_out(op: Operation) -> dict:
    return row_out(
        op, _OPERATION_FIELDS, uid=op.member_uid, amount=format_amount(op.amount)
    )


class OperationApi(APIView):
    class OperationEnvelope(SuccessOut):
        operation = serializers.DictField()

    @read_action(OperationEnvelope, summary="An operation's status (for 202 answers)")
    def get(self, request, operation_id: int):
        op = Operation.objects.filter(pk=operation_id).first()
        if op is None:
            raise ServiceError(
                f"No operation {operation_id}", code="NOT_FOUND", status=404
            )
        return {"success": True, "operation": operation_out(op)}
