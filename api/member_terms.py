"""A member's term: cancel it, renew it, or preview what a plan change would cost."""

from collections.abc import Callable

from rest_framework import serializers
from rest_framework.views import APIView

from api.idempotency import idempotent_schema
from api.inputs import query_text
from api.members import MemberEnvelope, PendingOut, member_operation
from api.outputs import MemberAnswerOut, read_action
from billing.money import format_amount
from members import inputs
from members.services import operations
from orgportal.clock import iso


def _term_api(
    name: str, operation: Callable[..., operations.Outcome], summary: str
) -> type:
    """The view `name`: a POST without a body that runs the member operation
    `operation` on the path's member."""

    @idempotent_schema(
        {200: MemberEnvelope, 202: PendingOut}, request=None, summary=summary
    )
    def post(self, request, uid):
        return member_operation(request, lambda **caller: operation(uid=uid, **caller))

    return type(name, (APIView,), {"post": post, "__module__": __name__})


MemberCancelApi = _term_api(
    "MemberCancelApi",
    operations.member_cancel,
    "Cancel a member (unused time credited)",
)
MemberRenewApi = _term_api(
    "MemberRenewApi", operations.member_renew, "Renew for another term at full price"
)


class MemberPreviewApi(APIView):
    class MemberPreviewQuery(serializers.Serializer):
        plan = query_text()
        # Years 1970..9000: the preview adds terms to `at`, which must stay inside
        # datetime's range.
        at = serializers.DateTimeField(
            required=False, validators=[inputs.refuse_far_dates]
        )

    class MemberPreviewOut(MemberAnswerOut):
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

    @read_action(
        MemberPreviewOut,
        query=MemberPreviewQuery,
        summary="What a plan change would cost (no side effects)",
    )
    def get(self, request, uid, query):
        preview = operations.member_preview(
            uid=uid, plan=query["plan"], at=query.get("at")
        )
        return {
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
            "term_start": iso(preview.term_start),
            "term_end": iso(preview.term_end),
        }
