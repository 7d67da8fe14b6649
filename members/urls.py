from django.urls import path

from members import (
    api,
    api_streams,
    api_usage,
    inputs,  # noqa: F401  (registers the uid path converter)
)

# Names are namespaced: the portal has routes called "ledger" and "plans" too. Every
# name here has its scope in members.scopes.REQUIRED_SCOPES.
app_name = "organization"

urlpatterns = [
    path("plans", api.PlansApi.as_view(), name="plans"),
    path("members", api.MemberListApi.as_view(), name="member-list"),
    path("members/create", api.MemberCreateApi.as_view(), name="member-create"),
    path("members/<uid:uid>", api.MemberDetailApi.as_view(), name="member-detail"),
    path(
        "members/<uid:uid>/update", api.MemberUpdateApi.as_view(), name="member-update"
    ),
    path(
        "members/<uid:uid>/cancel", api.MemberCancelApi.as_view(), name="member-cancel"
    ),
    path("members/<uid:uid>/renew", api.MemberRenewApi.as_view(), name="member-renew"),
    path(
        "members/<uid:uid>/preview",
        api.MemberPreviewApi.as_view(),
        name="member-preview",
    ),
    path(
        "members/<uid:uid>/rotate-key",
        api.MemberRotateKeyApi.as_view(),
        name="member-rotate-key",
    ),
    path(
        "members/<uid:uid>/revoke-keys",
        api.MemberRevokeKeysApi.as_view(),
        name="member-revoke-keys",
    ),
    path(
        "members/<uid:uid>/usage",
        api_usage.MemberUsageApi.as_view(),
        name="member-usage",
    ),
    # A member's open market data WebSocket connections.
    path(
        "members/<uid:uid>/connections",
        api_streams.MemberConnectionsApi.as_view(),
        name="member-connections",
    ),
    path(
        "members/<uid:uid>/connections/disconnect",
        api_streams.MemberConnectionsDisconnectApi.as_view(),
        name="member-connections-disconnect",
    ),
    path("balance", api.BalanceApi.as_view(), name="balance"),
    path("ledger", api.LedgerApi.as_view(), name="ledger"),
    path("ledger/adjustments", api.AdjustmentApi.as_view(), name="ledger-adjustments"),
    path("credits/quote", api.QuoteApi.as_view(), name="credits-quote"),
    path("credits/purchase", api.PurchaseApi.as_view(), name="credits-purchase"),
    path("credits/refund", api.RefundApi.as_view(), name="credits-refund"),
    path(
        "operations/<int:operation_id>",
        api.OperationApi.as_view(),
        name="operation-detail",
    ),
]

# Notifications: webhook endpoints, the notification and delivery logs, redelivery.
# Appended as its own block (import included) so parallel additions do not collide.
from members import api_notifications  # noqa: E402

urlpatterns += [
    path("webhooks", api_notifications.WebhookListApi.as_view(), name="webhook-list"),
    path(
        "webhooks/<int:endpoint_id>",
        api_notifications.WebhookDetailApi.as_view(),
        name="webhook-detail",
    ),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret",
        api_notifications.WebhookRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "notifications",
        api_notifications.NotificationListApi.as_view(),
        name="notification-list",
    ),
    path(
        "deliveries", api_notifications.DeliveryListApi.as_view(), name="delivery-list"
    ),
    path(
        "deliveries/<int:delivery_id>/redeliver",
        api_notifications.DeliveryRedeliverApi.as_view(),
        name="delivery-redeliver",
    ),
]

# Brokerage links (the brokerage app): members/{uid}/brokerage.
from django.urls import include  # noqa: E402

urlpatterns += [path("", include("brokerage.urls"))]
