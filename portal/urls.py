"""The staff portal's URLs, mounted at the site root."""

from django.urls import path

from members import inputs  # noqa: F401  (registers the uid path converter)
from portal.views import (
    auth,
    credits,
    dashboard,
    ledger,
    members,
    notifications,
    streams,
)
from portal.views import settings as org

app_name = "portal"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    # members
    path("members/", members.member_list, name="members"),
    path("members/new/", members.member_new, name="member_new"),
    path("members/new/preview/", members.member_new_preview, name="member_new_preview"),
    path("members/<uid:uid>/", members.member_detail, name="member"),
    path("members/<uid:uid>/change/", members.member_change, name="member_change"),
    path(
        "members/<uid:uid>/change/preview/",
        members.member_change_preview,
        name="member_change_preview",
    ),
    path("members/<uid:uid>/renew/", members.member_renew, name="member_renew"),
    path("members/<uid:uid>/cancel/", members.member_cancel, name="member_cancel"),
    path("members/<uid:uid>/delete/", members.member_delete, name="member_delete"),
    path(
        "members/<uid:uid>/settings/", members.member_settings, name="member_settings"
    ),
    path(
        "members/<uid:uid>/keys/rotate/",
        members.member_key_rotate,
        name="member_key_rotate",
    ),
    path(
        "members/<uid:uid>/keys/revoke/",
        members.member_keys_revoke,
        name="member_keys_revoke",
    ),
    path(
        "members/<uid:uid>/connections/",
        streams.member_connections,
        name="member_connections",
    ),
    path(
        "members/<uid:uid>/connections/disconnect/",
        streams.member_connections_disconnect,
        name="member_connections_disconnect",
    ),
    # money
    path("ledger/", ledger.ledger_list, name="ledger"),
    path("ledger/export.csv", ledger.ledger_export, name="ledger_export"),
    path(
        "ledger/<int:transaction_id>/reverse",
        ledger.ledger_reverse,
        name="ledger_reverse",
    ),
    path("credits/", credits.credits_page, name="credits"),
    path("credits/quote/", credits.credits_quote, name="credits_quote"),
    path("credits/purchase/", credits.credits_purchase, name="credits_purchase"),
    path("credits/refund/", credits.credits_refund, name="credits_refund"),
    # organisation
    path("plans/", org.plan_list, name="plans"),
    path("plans/sync/", org.plan_sync, name="plans_sync"),
    path("audit/", org.audit_list, name="audit"),
    path("tokens/", org.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", org.token_revoke, name="token_revoke"),
    path("settings/", org.org_settings_view, name="settings"),
    # notifications
    path("notifications/", notifications.notification_list, name="notifications"),
    path(
        "notifications/deliveries/<int:delivery_id>/",
        notifications.delivery_detail,
        name="delivery",
    ),
    path(
        "notifications/deliveries/<int:delivery_id>/redeliver/",
        notifications.delivery_redeliver,
        name="delivery_redeliver",
    ),
    path("webhooks/new/", notifications.webhook_new, name="webhook_new"),
    path(
        "webhooks/<int:endpoint_id>/edit/",
        notifications.webhook_edit,
        name="webhook_edit",
    ),
    path(
        "webhooks/<int:endpoint_id>/rotate/",
        notifications.webhook_rotate,
        name="webhook_rotate",
    ),
    path(
        "webhooks/<int:endpoint_id>/delete/",
        notifications.webhook_delete,
        name="webhook_delete",
    ),
]
