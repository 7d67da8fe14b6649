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

urlpatterns = [
    path("plans", plans.PlansApi.as_view(), name="plans"),
    path("members", members.MemberListApi.as_view(), name="member-list"),
    path("members/create", members.MemberCreateApi.as_view(), name="member-create"),
    path("members/<uid:uid>", members.MemberDetailApi.as_view(), name="member-detail"),
    path(
        "members/<uid:uid>/update",
        members.MemberUpdateApi.as_view(),
        name="member-update",
    ),
    path(
        "members/<uid:uid>/cancel",
        member_terms.MemberCancelApi.as_view(),
        name="member-cancel",
    ),
    path(
        "members/<uid:uid>/renew",
        member_terms.MemberRenewApi.as_view(),
        name="member-renew",
    ),
    path(
        "members/<uid:uid>/preview",
        member_terms.MemberPreviewApi.as_view(),
        name="member-preview",
    ),
    path(
        "members/<uid:uid>/rotate-key",
        member_keys.MemberRotateKeyApi.as_view(),
        name="member-rotate-key",
    ),
    path(
        "members/<uid:uid>/revoke-keys",
        member_keys.MemberRevokeKeysApi.as_view(),
        name="member-revoke-keys",
    ),
    path(
        "members/<uid:uid>/usage",
        usage.MemberUsageApi.as_view(),
        name="member-usage",
    ),
    # A member's open market data WebSocket connections.
    path(
        "members/<uid:uid>/connections",
        connections.MemberConnectionsApi.as_view(),
        name="member-connections",
    ),
    path(
        "members/<uid:uid>/connections/disconnect",
        connections.MemberConnectionsDisconnectApi.as_view(),
        name="member-connections-disconnect",
    ),
    path("balance", balance.BalanceApi.as_view(), name="balance"),
    path("ledger", balance.LedgerApi.as_view(), name="ledger"),
    path(
        "ledger/adjustments",
        balance.AdjustmentApi.as_view(),
        name="ledger-adjustments",
    ),
    path(
        "ledger/<int:transaction_id>/reverse",
        balance.ReversalApi.as_view(),
        name="ledger-reverse",
    ),
    path("credits/quote", credits.QuoteApi.as_view(), name="credits-quote"),
    path("credits/purchase", credits.PurchaseApi.as_view(), name="credits-purchase"),
    path("credits/refund", credits.RefundApi.as_view(), name="credits-refund"),
    path(
        "operations/<int:operation_id>",
        operations.OperationApi.as_view(),
        name="operation-detail",
    ),
    # Notifications: webhook endpoints, the notification and delivery logs, redelivery.
    path("webhooks", webhooks.WebhookListApi.as_view(), name="webhook-list"),
    path(
        "webhooks/<int:endpoint_id>",
        webhooks.WebhookDetailApi.as_view(),
        name="webhook-detail",
    ),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret",
        webhooks.WebhookRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "notifications",
        deliveries.NotificationListApi.as_view(),
        name="notification-list",
    ),
    path("deliveries", deliveries.DeliveryListApi.as_view(), name="delivery-list"),
    path(
        "deliveries/<int:delivery_id>/redeliver",
        deliveries.DeliveryRedeliverApi.as_view(),
        name="delivery-redeliver",
    ),
    # Brokerage links (the brokerage app): members/{uid}/brokerage.
    path("", include("brokerage.urls")),
]
