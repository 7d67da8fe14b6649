"""The REST API under /api/organization/. Names are namespaced: the portal has routes
called "ledger" and "plans" too. Every name here has its scope in
members.scopes.REQUIRED_SCOPES."""

from django.urls import include, path

from api import (
    balance,
    connections,
    credits,
    deliveries,
    member_keys,
    member_terms,
    members,
    operations,
    plans,
    usage,
    webhooks,
)
from members import inputs  # noqa: F401  (registers the uid path converter)

app_name = "organization"

MEMBER = "members/<uid:uid>"

# (path, view, name), in the order Django tries them.
ROUTES = (
    ("plans", plans.PlansApi, "plans"),
    ("members", members.MemberListApi, "member-list"),
    ("members/create", members.MemberCreateApi, "member-create"),
    (MEMBER, members.MemberDetailApi, "member-detail"),
    (f"{MEMBER}/update", members.MemberUpdateApi, "member-update"),
    (f"{MEMBER}/cancel", member_terms.MemberCancelApi, "member-cancel"),
    (f"{MEMBER}/renew", member_terms.MemberRenewApi, "member-renew"),
    (f"{MEMBER}/preview", member_terms.MemberPreviewApi, "member-preview"),
    (f"{MEMBER}/rotate-key", member_keys.MemberRotateKeyApi, "member-rotate-key"),
    (f"{MEMBER}/revoke-keys", member_keys.MemberRevokeKeysApi, "member-revoke-keys"),
    (f"{MEMBER}/usage", usage.MemberUsageApi, "member-usage"),
    # A member's open market data WebSocket connections.
    (f"{MEMBER}/connections", connections.MemberConnectionsApi, "member-connections"),
    (
        f"{MEMBER}/connections/disconnect",
        connections.MemberConnectionsDisconnectApi,
        "member-connections-disconnect",
    ),
    ("balance", balance.BalanceApi, "balance"),
    ("ledger", balance.LedgerApi, "ledger"),
    ("ledger/adjustments", balance.AdjustmentApi, "ledger-adjustments"),
    ("ledger/<int:transaction_id>/reverse", balance.ReversalApi, "ledger-reverse"),
    ("credits/quote", credits.QuoteApi, "credits-quote"),
    ("credits/purchase", credits.PurchaseApi, "credits-purchase"),
    ("credits/refund", credits.RefundApi, "credits-refund"),
    ("operations/<int:operation_id>", operations.OperationApi, "operation-detail"),
    # Notifications: webhook endpoints, the notification and delivery logs, redelivery.
    ("webhooks", webhooks.WebhookListApi, "webhook-list"),
    ("webhooks/<int:endpoint_id>", webhooks.WebhookDetailApi, "webhook-detail"),
    (
        "webhooks/<int:endpoint_id>/rotate-secret",
        webhooks.WebhookRotateSecretApi,
        "webhook-rotate-secret",
    ),
    ("notifications", deliveries.NotificationListApi, "notification-list"),
    ("deliveries", deliveries.DeliveryListApi, "delivery-list"),
    (
        "deliveries/<int:delivery_id>/redeliver",
        deliveries.DeliveryRedeliverApi,
        "delivery-redeliver",
    ),
)

urlpatterns = [
    *(path(route, view.as_view(), name=name) for route, view, name in ROUTES),
    # Brokerage links (the brokerage app): members/{uid}/brokerage.
    path("", include("brokerage.urls")),
]
