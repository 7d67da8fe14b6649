"""The notification and delivery logs, newest first, and manual redelivery."""

from rest_framework import serializers
from rest_framework.views import APIView

from api.cursors import CursorListApi, cursor_fields, cursor_list_schema, next_cursor
from api.idempotency import idempotent_action
from api.inputs import actor
from api.outputs import SuccessOut, out_fields, row_out
from api.webhooks import EVENTS, EventNameField
from notifications import selectors as reads
from notifications.models import Delivery, DeliveryAttempt, Notification
from notifications.services import deliveries as service


class AttemptOut(serializers.Serializer):
    number = serializers.IntegerField()
    manual = serializers.BooleanField()
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    duration_ms = serializers.IntegerField()
    started_at = serializers.CharField()


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="also the Orgportal-Delivery header")
    notification_id = serializers.CharField(help_text="evt_<id>")
    event = EventNameField()
    channel = serializers.ChoiceField(choices=Delivery.Channel.choices)
    endpoint_id = serializers.IntegerField(allow_null=True)
    destination = serializers.CharField()
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.CharField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    delivered_at = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    attempt_log = AttemptOut(many=True, help_text="newest first")


class DeliveryEnvelope(SuccessOut):
    delivery = DeliveryOut()


class NotificationOut(serializers.Serializer):
    id = serializers.CharField(help_text="evt_<id>, the webhook body's id")
    event = EventNameField()
    dedupe_key = serializers.CharField()
    member = serializers.CharField(allow_null=True, help_text="the member's uid")
    data = serializers.DictField()
    created_at = serializers.CharField()
    deliveries = DeliveryOut(many=True)


def attempt_out(attempt: DeliveryAttempt) -> dict:
    return row_out(attempt, out_fields(AttemptOut))


def delivery_out(delivery: Delivery, *, event: str) -> dict:
    return row_out(
        delivery,
        out_fields(DeliveryOut),
        notification_id=f"evt_{delivery.notification_id}",
        event=event,
        attempt_log=[attempt_out(a) for a in delivery.attempt_log.all()],
    )


def notification_out(notification: Notification) -> dict:
    return row_out(
        notification,
        out_fields(NotificationOut),
        id=f"evt_{notification.pk}",
        member=notification.member.uid if notification.member else None,
        data=notification.payload,
        deliveries=[
            delivery_out(d, event=notification.event)
            for d in notification.deliveries.all()
        ],
    )


@cursor_list_schema(
    "NotificationListOut",
    NotificationOut(many=True),
    operation_id="organization_notifications_list",
    summary="Notifications, newest first, each with its deliveries",
)
class NotificationListApi(CursorListApi):
    key = "notifications"

    class Query(serializers.Serializer):
        event = serializers.ChoiceField(choices=EVENTS, required=False)
        uid = serializers.CharField(max_length=100, required=False)
        cursor, limit = cursor_fields(max_limit=200)

    def page(self, **filters):
        rows, last = reads.notifications_page(**filters)
        return [notification_out(n) for n in rows], next_cursor(last)


@cursor_list_schema(
    "DeliveryListOut",
    DeliveryOut(many=True),
    operation_id="organization_deliveries_list",
    summary="Deliveries, newest first, each with its attempt log",
)
class DeliveryListApi(CursorListApi):
    key = "deliveries"

    class Query(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=Delivery.Status.choices, required=False
        )
        event = serializers.ChoiceField(choices=EVENTS, required=False)
        endpoint = serializers.IntegerField(
            min_value=1, max_value=2**62, required=False, source="endpoint_id"
        )
        cursor, limit = cursor_fields(max_limit=200)

    def page(self, **filters):
        rows, last = reads.deliveries_page(**filters)
        deliveries = [delivery_out(d, event=d.notification.event) for d in rows]
        return deliveries, next_cursor(last)


class DeliveryRedeliverApi(APIView):
    # It sends the webhook now: never inside a database transaction.
    @idempotent_action(
        {200: DeliveryEnvelope},
        local=False,
        request=None,
        operation_id="organization_deliveries_redeliver",
        summary="Send a delivery again now (delivered and dead ones too)",
    )
    def post(self, request, delivery_id: int):
        delivery = service.delivery_redeliver(
            delivery_id=delivery_id, actor=actor(request)
        )
        return 200, {
            "success": True,
            "delivery": delivery_out(delivery, event=delivery.notification.event),
        }
