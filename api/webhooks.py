"""Webhook endpoints: add, list, change, delete, and rotate their signing secrets. The
webhooks themselves are described in `notifications.payloads`."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.views import APIView

from api.idempotency import idempotent_action
from api.inputs import StrictCharField, StrictSerializer, actor
from api.outputs import SuccessOut, out_fields, read_action, row_out
from notifications import selectors as reads
from notifications.models import Notification, WebhookEndpoint
from notifications.services import endpoints as service

EVENTS = list(Notification.Event.values)


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


class WebhookEnvelope(SuccessOut):
    webhook = WebhookOut()


class WebhookSecretEnvelope(WebhookEnvelope):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_...): shown only in this response."
    )


def webhook_out(endpoint: WebhookEndpoint) -> dict:
    return row_out(endpoint, out_fields(WebhookOut))


def secret_out(endpoint: WebhookEndpoint, secret: str) -> dict:
    """WebhookSecretEnvelope's body: the endpoint, and its signing secret (once)."""
    return {"success": True, "webhook": webhook_out(endpoint), "secret": secret}


def _events_in(help_text: str) -> serializers.ListField:
    """The optional list of events an endpoint is sent, as a request body names it."""
    return serializers.ListField(
        child=EventNameField(max_length=40),
        required=False,
        max_length=len(EVENTS),
        help_text=help_text,
    )


class WebhookCreateIn(StrictSerializer):
    url = StrictCharField(
        max_length=500, help_text="http:// or https:// URL that receives the POSTs"
    )
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    events = _events_in("events to send; empty or absent = every event")


class WebhookUpdateIn(StrictSerializer):
    url = StrictCharField(max_length=500, required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    events = _events_in("replaces the list; empty = every event")
    active = serializers.BooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send url, description, events or active."]}
            )
        return attrs


class WebhookListApi(APIView):
    class WebhookListOut(SuccessOut):
        webhooks = WebhookOut(many=True)

    @read_action(
        WebhookListOut,
        operation_id="organization_webhooks_list",
        summary="List webhook endpoints",
    )
    def get(self, request):
        endpoints = reads.webhook_endpoints_list()
        return {"success": True, "webhooks": [webhook_out(e) for e in endpoints]}

    @idempotent_action(
        {201: WebhookSecretEnvelope},
        body=WebhookCreateIn,
        body_under_key=True,
        operation_id="organization_webhooks_create",
        summary="Add a webhook endpoint (its signing secret is shown once)",
    )
    def post(self, request, data):
        endpoint, secret = service.webhook_endpoint_create(
            url=data["url"],
            description=data.get("description", ""),
            events=data.get("events"),
            actor=actor(request),
        )
        return 201, secret_out(endpoint, secret)


class WebhookDetailApi(APIView):
    class WebhookDeletedOut(SuccessOut):
        id = serializers.IntegerField()
        deactivated = serializers.BooleanField(
            help_text="true: it had deliveries, so it is kept (inactive) with its log"
        )

    @read_action(
        WebhookEnvelope,
        operation_id="organization_webhooks_retrieve",
        summary="Get a webhook endpoint",
    )
    def get(self, request, endpoint_id: int):
        endpoint = reads.webhook_endpoint_get(endpoint_id)
        return {"success": True, "webhook": webhook_out(endpoint)}

    @idempotent_action(
        {200: WebhookEnvelope},
        body=WebhookUpdateIn,
        body_under_key=True,
        operation_id="organization_webhooks_update",
        summary="Change a webhook endpoint's URL, description, events or active flag",
    )
    def patch(self, request, endpoint_id: int, data):
        endpoint = service.webhook_endpoint_update(
            endpoint_id=endpoint_id,
            actor=actor(request),
            url=data.get("url"),
            description=data.get("description"),
            events=data.get("events"),
            active=data.get("active"),
        )
        return 200, {"success": True, "webhook": webhook_out(endpoint)}

    @idempotent_action(
        {200: WebhookDeletedOut},
        operation_id="organization_webhooks_delete",
        summary="Delete a webhook endpoint (deactivated instead if it has deliveries)",
    )
    def delete(self, request, endpoint_id: int):
        service.webhook_endpoint_delete(endpoint_id=endpoint_id, actor=actor(request))
        kept = any(e.pk == endpoint_id for e in reads.webhook_endpoints_list())
        return 200, {"success": True, "id": endpoint_id, "deactivated": kept}


class WebhookRotateSecretApi(APIView):
    @idempotent_action(
        {200: WebhookSecretEnvelope},
        request=None,
        operation_id="organization_webhooks_rotate_secret",
        summary="Replace a webhook endpoint's signing secret (shown once)",
    )
    def post(self, request, endpoint_id: int):
        endpoint, secret = service.webhook_endpoint_rotate_secret(
            endpoint_id=endpoint_id, actor=actor(request)
        )
        return 200, secret_out(endpoint, secret)
