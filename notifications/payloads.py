"""The webhooks orgportal sends, described for the OpenAPI schema (3.1 `webhooks`): one
entry per event, with a serializer for its `data`.

SPECTACULAR_SETTINGS["WEBHOOKS"] lists WEBHOOK_IMPORT_PATHS; the wire format itself is
`notifications.signing` and `notifications.services.deliveries.webhook_body`.
"""

from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers


class EventMember(serializers.Serializer):
    uid = serializers.CharField()
    full_name = serializers.CharField(allow_blank=True)
    plan = serializers.CharField()
    status = serializers.CharField()
    term_start = serializers.CharField(help_text="ISO 8601, UTC")
    term_end = serializers.CharField(help_text="ISO 8601, UTC")
    auto_renew = serializers.BooleanField()


class RenewalDueData(serializers.Serializer):
    member = EventMember()
    days_before = serializers.IntegerField(help_text="days left in the term")
    price = serializers.CharField(help_text='credits a renewal costs, e.g. "15.00"')
    auto_renew = serializers.BooleanField()


class RenewedData(serializers.Serializer):
    member = EventMember()
    amount = serializers.CharField(help_text='credits charged, e.g. "15.00"')
    term_start = serializers.CharField()
    term_end = serializers.CharField()
    operation_id = serializers.IntegerField()


class RenewalFailedData(serializers.Serializer):
    member = EventMember()
    reason = serializers.CharField(help_text="an error code, e.g. INSUFFICIENT_CREDITS")
    message = serializers.CharField(required=False, help_text="the reason in words")
    needed = serializers.CharField(
        required=False, allow_null=True, help_text="credits the renewal needs"
    )
    available = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="credits available when it was tried",
    )


class ExpiredData(serializers.Serializer):
    member = EventMember()
    expired_at = serializers.CharField()


class LowBalanceData(serializers.Serializer):
    balance = serializers.CharField()
    available = serializers.CharField(help_text="balance minus holds")
    forecast = serializers.CharField(
        help_text="credits the renewals due within window_days need"
    )
    renewals = serializers.IntegerField(
        required=False, help_text="how many renewals are due within window_days"
    )
    window_days = serializers.IntegerField()
    shortfall = serializers.CharField(help_text="forecast minus available")


class QuotaExceededData(serializers.Serializer):
    member = EventMember()
    quota = serializers.IntegerField(help_text="monthly requests allowed")
    used = serializers.IntegerField()
    month = serializers.CharField(help_text="YYYY-MM (UTC)")


_WEBHOOK_DESCRIPTION = (
    "orgportal POSTs this JSON to every active endpoint subscribed to the event. "
    "Headers: `Orgportal-Event` (the type), `Orgportal-Delivery` (the delivery id, the "
    "same on every retry: dedupe on it), `Orgportal-Signature: t=<unix seconds>,"
    "v1=<hex HMAC-SHA256(secret, t + '.' + raw body)>`, `User-Agent: "
    "orgportal-webhooks/1`. Any 2xx acknowledges; anything else, a redirect, a timeout "
    "or a refused connection is retried with exponential backoff until "
    "WEBHOOK_MAX_ATTEMPTS."
)


def _webhook(event: str, data_serializer, component: str, summary: str):
    envelope = type(
        component,
        (serializers.Serializer,),
        {
            "id": serializers.CharField(help_text="evt_<notification id>"),
            "type": serializers.ChoiceField(choices=[event]),
            "created_at": serializers.CharField(help_text="ISO 8601, UTC (Z)"),
            "data": data_serializer(),
        },
    )
    return OpenApiWebhook(
        name=event,
        decorator=extend_schema(
            summary=summary,
            description=_WEBHOOK_DESCRIPTION,
            request=envelope,
            responses={
                200: OpenApiResponse(description="Any 2xx: received"),
            },
        ),
    )


WEBHOOK_RENEWAL_DUE = _webhook(
    "member.renewal_due",
    RenewalDueData,
    "MemberRenewalDueEvent",
    "A member's term ends soon (one per reminder day)",
)
WEBHOOK_RENEWED = _webhook(
    "member.renewed", RenewedData, "MemberRenewedEvent", "A member was renewed"
)
WEBHOOK_RENEWAL_FAILED = _webhook(
    "member.renewal_failed",
    RenewalFailedData,
    "MemberRenewalFailedEvent",
    "An automatic renewal failed (e.g. not enough credits)",
)
WEBHOOK_EXPIRED = _webhook(
    "member.expired", ExpiredData, "MemberExpiredEvent", "A member's term ran out"
)
WEBHOOK_LOW_BALANCE = _webhook(
    "org.low_balance",
    LowBalanceData,
    "OrgLowBalanceEvent",
    "The wallet cannot cover the renewals due soon",
)
WEBHOOK_QUOTA_EXCEEDED = _webhook(
    "member.quota_exceeded",
    QuotaExceededData,
    "MemberQuotaExceededEvent",
    "A member used its monthly request quota",
)
# For SPECTACULAR_SETTINGS["WEBHOOKS"] (import paths, OAS_VERSION "3.1.0").
WEBHOOK_IMPORT_PATHS = [
    f"notifications.payloads.{name}"
    for name in (
        "WEBHOOK_RENEWAL_DUE",
        "WEBHOOK_RENEWED",
        "WEBHOOK_RENEWAL_FAILED",
        "WEBHOOK_EXPIRED",
        "WEBHOOK_LOW_BALANCE",
        "WEBHOOK_QUOTA_EXCEEDED",
    )
]
