"""A member's gateway usage per UTC day, REST and WebSocket."""

from rest_framework import serializers
from rest_framework.views import APIView

from api.outputs import MemberAnswerOut, read_action
from members import selectors
from members.services import operations


class UsageDayOut(serializers.Serializer):
    day = serializers.CharField(
        help_text="UTC day, YYYY-MM-DD; days without traffic are left out"
    )
    requests = serializers.IntegerField(help_text="market data REST requests answered")
    bytes = serializers.IntegerField(help_text="REST response bytes sent")
    refused = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="refusal code -> count. Codes starting WS_ are the WebSocket "
        "gateway's (e.g. WS_CONNECTION_LIMIT, WS_SUBSCRIPTION_REFUSED); the others "
        "are the REST gateway's error codes.",
    )
    upstream_ms_avg = serializers.FloatField(
        allow_null=True, help_text="mean upstream time of the REST requests, ms"
    )
    ws_messages = serializers.IntegerField(
        help_text="WebSocket data messages delivered (/live and /newsfeed)"
    )
    ws_bytes = serializers.IntegerField(help_text="WebSocket bytes delivered")
    ws_connection_minutes = serializers.FloatField(
        help_text="time the member's WebSocket connections were open, summed over "
        "connections, in minutes with one decimal place (rounded half up)"
    )
    account_events = serializers.IntegerField(
        help_text="account stream events delivered (/v1/accounts/ws): orders, "
        "positions, balances, P&L, watchlists, news"
    )
    account_connection_minutes = serializers.FloatField(
        help_text="time the member's account stream connections were open, summed "
        "over connections, in minutes with one decimal place (rounded half up)"
    )


class UsageTotalsOut(serializers.Serializer):
    requests = serializers.IntegerField()
    bytes = serializers.IntegerField()
    ws_messages = serializers.IntegerField()
    ws_bytes = serializers.IntegerField()
    ws_connection_minutes = serializers.FloatField(
        help_text="the sum of the days' ws_connection_minutes"
    )
    account_events = serializers.IntegerField()
    account_connection_minutes = serializers.FloatField(
        help_text="the sum of the days' account_connection_minutes"
    )


class MemberUsageApi(APIView):
    class MemberUsageQuery(serializers.Serializer):
        days = serializers.IntegerField(min_value=1, max_value=366, default=30)

    class MemberUsageOut(MemberAnswerOut):
        quota = serializers.IntegerField()
        quota_exceeded = serializers.BooleanField()
        days = UsageDayOut(many=True, help_text="oldest first")
        totals = UsageTotalsOut(help_text="sums over `days`")

    @read_action(
        MemberUsageOut, query=MemberUsageQuery, summary="Gateway usage per day"
    )
    def get(self, request, uid, query):
        member = operations.member_get_live(uid)
        days = selectors.member_usage(member=member, days=query["days"])
        return {
            "success": True,
            "uid": member.uid,
            "quota": selectors.member_limits(member)["quota"],
            "quota_exceeded": member.quota_exceeded,
            "days": days,
            "totals": selectors.member_usage_totals(days),
        }
