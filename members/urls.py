from django.urls import path

from members import api

urlpatterns = [
    path("plans", api.PlansApi.as_view()),
    path("members", api.MemberListApi.as_view()),
    path("members/create", api.MemberCreateApi.as_view()),
    path("members/<str:uid>", api.MemberDetailApi.as_view()),
    path("members/<str:uid>/update", api.MemberUpdateApi.as_view()),
    path("members/<str:uid>/cancel", api.MemberCancelApi.as_view()),
    path("members/<str:uid>/renew", api.MemberRenewApi.as_view()),
    path("members/<str:uid>/preview", api.MemberPreviewApi.as_view()),
    path("members/<str:uid>/rotate-key", api.MemberRotateKeyApi.as_view()),
    path("members/<str:uid>/revoke-keys", api.MemberRevokeKeysApi.as_view()),
    path("members/<str:uid>/usage", api.MemberUsageApi.as_view()),
    path("balance", api.BalanceApi.as_view()),
    path("ledger", api.LedgerApi.as_view()),
    path("ledger/adjustments", api.AdjustmentApi.as_view()),
    path("credits/quote", api.QuoteApi.as_view()),
    path("credits/purchase", api.PurchaseApi.as_view()),
    path("credits/refund", api.RefundApi.as_view()),
    path("operations/<int:operation_id>", api.OperationApi.as_view()),
]

# Notifications: webhook endpoints, the notification and delivery logs, redelivery.
# Appended as its own block (import included) so parallel additions do not collide.
from members import api_notifications  # noqa: E402

urlpatterns += [
    path("webhooks", api_notifications.WebhookListApi.as_view()),
    path("webhooks/<int:endpoint_id>", api_notifications.WebhookDetailApi.as_view()),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret",
        api_notifications.WebhookRotateSecretApi.as_view(),
    ),
    path("notifications", api_notifications.NotificationListApi.as_view()),
    path("deliveries", api_notifications.DeliveryListApi.as_view()),
    path(
        "deliveries/<int:delivery_id>/redeliver",
        api_notifications.DeliveryRedeliverApi.as_view(),
    ),
]
