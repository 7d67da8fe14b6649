"""A member's open market data WebSocket connections (/live, /newsfeed) across every web
process, and disconnecting them."""

from rest_framework import serializers
from rest_framework.views import APIView

from api.idempotency import idempotent_action
from api.inputs import StrictCharField, StrictSerializer, actor
from api.outputs import MemberAnswerOut, read_action
from members import stream_selectors
from members.inputs import refuse_control_chars
from members.services import operations, streams
from orgportal.clock import iso


class SubscriptionOut(serializers.Serializer):
    """A subscription as the gateway accepted it; upstream's other item options
    (e.g. max_dp, extended) appear as sent."""

    code = serializers.CharField()
    type = serializers.ChoiceField(choices=["series", "quote"])
    bar_type = serializers.CharField(
        required=False,
        help_text="series only: tick, second, minute, hour, day, week or month",
    )
    bar_interval = serializers.IntegerField(required=False, help_text="series only")


class ConnectionOut(serializers.Serializer):
    id = serializers.CharField(help_text="pass it to disconnect this connection")
    path = serializers.ChoiceField(choices=["/live", "/newsfeed"])
    peer = serializers.CharField(allow_blank=True, help_text="client address:port")
    opened_at = serializers.CharField(help_text="ISO 8601, UTC")
    subscriptions = SubscriptionOut(many=True, help_text="empty on /newsfeed")
    messages = serializers.IntegerField(help_text="data messages delivered so far")
    bytes = serializers.IntegerField(help_text="bytes of those messages")
    behind = serializers.IntegerField(
        help_text="frames queued for a client slower than its data"
    )


def connection_out(connection: dict) -> dict:
    return {
        "id": connection["id"],
        "path": connection["path"],
        "peer": connection["peer"],
        "opened_at": iso(connection["opened_at"]),
        "subscriptions": [
            {k: v for k, v in item.items() if k != "label"}
            for item in connection["subscriptions"]
        ],
        "messages": connection["messages"],
        "bytes": connection["bytes"],
        "behind": connection["behind"],
    }


class DisconnectIn(StrictSerializer):
    connection = StrictCharField(
        required=False,
        max_length=200,
        validators=[refuse_control_chars],
        help_text="the id of one connection (from the list); absent: every "
        "connection of the member",
    )


class MemberConnectionsApi(APIView):
    class MemberConnectionsOut(MemberAnswerOut):
        connections = ConnectionOut(many=True, help_text="oldest first")

    @read_action(
        MemberConnectionsOut,
        summary="The member's open market data WebSocket connections",
        description="Every web process's connections of the member on /live and "
        "/newsfeed, with their subscriptions. With several web processes (Redis) the "
        "counters are as of each process's last refresh, a few seconds old at most. "
        "503 CONNECTIONS_UNAVAILABLE when the listing (Redis) cannot be read.",
    )
    def get(self, request, uid):
        member = operations.member_get_live(uid)
        connections = stream_selectors.member_connections(member)
        return {
            "success": True,
            "uid": member.uid,
            "connections": [connection_out(c) for c in connections],
        }


class MemberConnectionsDisconnectApi(APIView):
    class MemberDisconnectOut(MemberAnswerOut):
        disconnected = serializers.IntegerField(
            help_text="connections closed, as listed when the request ran"
        )
        connections = ConnectionOut(many=True, help_text="the connections closed")

    @idempotent_action(
        {200: MemberDisconnectOut},
        body=DisconnectIn,
        body_under_key=True,
        summary="Close one or all of the member's WebSocket connections",
        description='The client sees close code 1008 with reason "disconnected by '
        'the operator" and may reconnect (revoke its key or cancel the member to '
        "keep it out). 404 CONNECTION_NOT_FOUND when the given connection is not "
        "open. A replayed Idempotency-Key answers what the first request closed and "
        "closes nothing new.",
    )
    def post(self, request, uid, data):
        closed = streams.member_connections_disconnect(
            uid=uid, connection=data.get("connection"), actor=actor(request)
        )
        return 200, {
            "success": True,
            "uid": uid,
            "disconnected": len(closed),
            "connections": [connection_out(c) for c in closed],
        }
