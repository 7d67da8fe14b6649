"""REST API for notifications: webhook endpoints, the notification and delivery logs, and
manual redelivery. The webhooks themselves are described in `members.webhook_schema`.

Views parse input, call one service and shape the output; no business rule lives here.
"""

import datetime as dt

from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from members import notification_selectors as reads
from members import selectors
from members.api import (
    ERRORS,
    IDEMPOTENCY_HEADER,
    StrictCharField,
    StrictSerializer,
    _actor,
    _parse,
)
from members.api_idempotency import idempotent
from members.errors import ValidationFailed
from members.models import Delivery, DeliveryAttempt, Notification, WebhookEndpoint
from members.services import notifications as service

EVENTS = list(Notification.Event.values)


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.astimezone(dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _cursor(q: dict) -> int | None:
    if not q.get("cursor"):
        return None
    try:
        return selectors.cursor_decode(q["cursor"])
    except ValueError:
        raise ValidationFailed(
            "cursor is not one this API gave out", code="INVALID_CURSOR"
        ) from None


# --- shapes -------------------------------------------------------------------------------


# A pattern rather than an enum: the event names appear under two property names (event,
# events), and an enum would be hoisted into two differently named components.
@extend_schema_field(
    {
        "type": "string",
        "pattern": "^(" + "|".join(e.replace(".", "\\.") for e in EVENTS) + ")$",
        "description": "one of: " + ", ".join(EVENTS),
    }
)
class EventNameField(StrictCharField):
    """An event name; unknown names are refused by the service with UNKNOWN_EVENT."""


class WebhookOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    events = serializers.ListField(
        child=EventNameField(), help_text="events sent; empty = every event"
    )
    active = serializers.BooleanField()
    created_at = serializers.CharField()
    updated_at = serializers.CharField()


class WebhookEnvelope(serializers.Serializer):
    success = serializers.BooleanField()
    webhook = WebhookOut()


class WebhookSecretEnvelope(serializers.Serializer):
    success = serializers.BooleanField()
    webhook = WebhookOut()
    secret = serializers.CharField(
        help_text="The signing secret (whsec_...): shown only in this response."
    )


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


class DeliveryEnvelope(serializers.Serializer):
    success = serializers.BooleanField()
    delivery = DeliveryOut()


class NotificationOut(serializers.Serializer):
    id = serializers.CharField(help_text="evt_<id>, the webhook body's id")
    event = EventNameField()
    dedupe_key = serializers.CharField()
    member = serializers.CharField(allow_null=True, help_text="the member's uid")
    data = serializers.DictField()
    created_at = serializers.CharField()
    deliveries = DeliveryOut(many=True)


def webhook_out(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.events,
        "active": endpoint.active,
        "created_at": _iso(endpoint.created_at),
        "updated_at": _iso(endpoint.updated_at),
    }


def attempt_out(attempt: DeliveryAttempt) -> dict:
    return {
        "number": attempt.number,
        "manual": attempt.manual,
        "ok": attempt.ok,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "started_at": _iso(attempt.started_at),
    }


def delivery_out(delivery: Delivery, *, event: str) -> dict:
    return {
        "id": delivery.pk,
        "notification_id": f"evt_{delivery.notification_id}",
        "event": event,
        "channel": delivery.channel,
        "endpoint_id": delivery.endpoint_id,
        "destination": delivery.destination,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": _iso(delivery.delivered_at),
        "created_at": _iso(delivery.created_at),
        "attempt_log": [attempt_out(a) for a in delivery.attempt_log.all()],
    }


def notification_out(notification: Notification) -> dict:
    return {
        "id": f"evt_{notification.pk}",
        "event": notification.event,
        "dedupe_key": notification.dedupe_key,
        "member": notification.member.uid if notification.member else None,
        "data": notification.payload,
        "created_at": _iso(notification.created_at),
        "deliveries": [
            delivery_out(d, event=notification.event)
            for d in notification.deliveries.all()
        ],
    }


class WebhookCreateIn(StrictSerializer):
    url = StrictCharField(
        max_length=500, help_text="http:// or https:// URL that receives the POSTs"
    )
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=EventNameField(max_length=40),
        required=False,
        max_length=len(EVENTS),
        help_text="events to send; empty or absent = every event",
    )


class WebhookUpdateIn(StrictSerializer):
    url = StrictCharField(max_length=500, required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=EventNameField(max_length=40),
        required=False,
        max_length=len(EVENTS),
        help_text="replaces the list; empty = every event",
    )
    active = serializers.BooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send url, description, events or active."]}
            )
        return attrs


# --- webhook endpoints --------------------------------------------------------------------


class WebhookListApi(APIView):
    class WebhookListOut(serializers.Serializer):
        success = serializers.BooleanField()
        webhooks = WebhookOut(many=True)

    @extend_schema(
        responses={200: WebhookListOut, **ERRORS},
        operation_id="organization_webhooks_list",
        summary="List webhook endpoints",
    )
    def get(self, request):
        endpoints = reads.webhook_endpoints_list()
        return Response(
            {"success": True, "webhooks": [webhook_out(e) for e in endpoints]}
        )

    @extend_schema(
        request=WebhookCreateIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: WebhookSecretEnvelope, **ERRORS},
        operation_id="organization_webhooks_create",
        summary="Add a webhook endpoint (its signing secret is shown once)",
    )
    def post(self, request):
        def run():
            data = _parse(WebhookCreateIn, request)
            endpoint, secret = service.webhook_endpoint_create(
                url=data["url"],
                description=data.get("description", ""),
                events=data.get("events"),
                actor=_actor(request),
            )
            return 201, {
                "success": True,
                "webhook": webhook_out(endpoint),
                "secret": secret,
            }

        return idempotent(request, run, local=True)


class WebhookDetailApi(APIView):
    class WebhookDeletedOut(serializers.Serializer):
        success = serializers.BooleanField()
        id = serializers.IntegerField()
        deactivated = serializers.BooleanField(
            help_text="true: it had deliveries, so it is kept (inactive) with its log"
        )

    @extend_schema(
        responses={200: WebhookEnvelope, **ERRORS},
        operation_id="organization_webhooks_retrieve",
        summary="Get a webhook endpoint",
    )
    def get(self, request, endpoint_id: int):
        endpoint = reads.webhook_endpoint_get(endpoint_id)
        return Response({"success": True, "webhook": webhook_out(endpoint)})

    @extend_schema(
        request=WebhookUpdateIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: WebhookEnvelope, **ERRORS},
        operation_id="organization_webhooks_update",
        summary="Change a webhook endpoint's URL, description, events or active flag",
    )
    def patch(self, request, endpoint_id: int):
        def run():
            data = _parse(WebhookUpdateIn, request)
            endpoint = service.webhook_endpoint_update(
                endpoint_id=endpoint_id,
                actor=_actor(request),
                url=data.get("url"),
                description=data.get("description"),
                events=data.get("events"),
                active=data.get("active"),
            )
            return 200, {"success": True, "webhook": webhook_out(endpoint)}

        return idempotent(request, run, local=True)

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: WebhookDeletedOut, **ERRORS},
        operation_id="organization_webhooks_delete",
        summary="Delete a webhook endpoint (deactivated instead if it has deliveries)",
    )
    def delete(self, request, endpoint_id: int):
        def run():
            service.webhook_endpoint_delete(
                endpoint_id=endpoint_id, actor=_actor(request)
            )
            kept = any(e.pk == endpoint_id for e in reads.webhook_endpoints_list())
            return 200, {"success": True, "id": endpoint_id, "deactivated": kept}

        return idempotent(request, run, local=True)


class WebhookRotateSecretApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: WebhookSecretEnvelope, **ERRORS},
        operation_id="organization_webhooks_rotate_secret",
        summary="Replace a webhook endpoint's signing secret (shown once)",
    )
    def post(self, request, endpoint_id: int):
        def run():
            endpoint, secret = service.webhook_endpoint_rotate_secret(
                endpoint_id=endpoint_id, actor=_actor(request)
            )
            return 200, {
                "success": True,
                "webhook": webhook_out(endpoint),
                "secret": secret,
            }

        return idempotent(request, run, local=True)


# --- logs ---------------------------------------------------------------------------------


class NotificationListApi(APIView):
    class NotificationQuery(serializers.Serializer):
        event = serializers.ChoiceField(choices=EVENTS, required=False)
        uid = serializers.CharField(max_length=100, required=False)
        cursor = serializers.RegexField(
            selectors.CURSOR_PATTERN,
            required=False,
            help_text="next_cursor from the previous page",
        )
        limit = serializers.IntegerField(min_value=1, max_value=200, default=50)

    class NotificationListOut(serializers.Serializer):
        success = serializers.BooleanField()
        notifications = NotificationOut(many=True)
        next_cursor = serializers.CharField(allow_null=True)

    @extend_schema(
        parameters=[NotificationQuery],
        responses={200: NotificationListOut, **ERRORS},
        operation_id="organization_notifications_list",
        summary="Notifications, newest first, each with its deliveries",
    )
    def get(self, request):
        query = self.NotificationQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        rows, last = reads.notifications_page(
            event=q.get("event"),
            uid=q.get("uid"),
            before_id=_cursor(q),
            limit=q["limit"],
        )
        return Response(
            {
                "success": True,
                "notifications": [notification_out(n) for n in rows],
                "next_cursor": selectors.cursor_encode(last) if last else None,
            }
        )


class DeliveryListApi(APIView):
    class DeliveryQuery(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=Delivery.Status.choices, required=False
        )
        event = serializers.ChoiceField(choices=EVENTS, required=False)
        endpoint = serializers.IntegerField(
            min_value=1, max_value=2**62, required=False
        )
        cursor = serializers.RegexField(
            selectors.CURSOR_PATTERN,
            required=False,
            help_text="next_cursor from the previous page",
        )
        limit = serializers.IntegerField(min_value=1, max_value=200, default=50)

    class DeliveryListOut(serializers.Serializer):
        success = serializers.BooleanField()
        deliveries = DeliveryOut(many=True)
        next_cursor = serializers.CharField(allow_null=True)

    @extend_schema(
        parameters=[DeliveryQuery],
        responses={200: DeliveryListOut, **ERRORS},
        operation_id="organization_deliveries_list",
        summary="Deliveries, newest first, each with its attempt log",
    )
    def get(self, request):
        query = self.DeliveryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        rows, last = reads.deliveries_page(
            status=q.get("status"),
            event=q.get("event"),
            endpoint_id=q.get("endpoint"),
            before_id=_cursor(q),
            limit=q["limit"],
        )
        return Response(
            {
                "success": True,
                "deliveries": [
                    delivery_out(d, event=d.notification.event) for d in rows
                ],
                "next_cursor": selectors.cursor_encode(last) if last else None,
            }
        )


class DeliveryRedeliverApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: DeliveryEnvelope, **ERRORS},
        operation_id="organization_deliveries_redeliver",
        summary="Send a delivery again now (delivered and dead ones too)",
    )
    def post(self, request, delivery_id: int):
        def run():
            delivery = service.delivery_redeliver(
                delivery_id=delivery_id, actor=_actor(request)
            )
            return 200, {
                "success": True,
                "delivery": delivery_out(delivery, event=delivery.notification.event),
            }

        # It sends the webhook now: never inside a database transaction.
        return idempotent(request, run, local=False)
