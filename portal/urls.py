"""The staff portal's URLs, mounted at the site root: one (route, view, name) row each."""

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

MEMBER = "members/<uid:uid>/"
DELIVERY = "notifications/deliveries/<int:delivery_id>/"
WEBHOOK = "webhooks/<int:endpoint_id>/"

ROUTES = [
    ("", dashboard.dashboard, "dashboard"),
    ("login/", auth.login_view, "login"),
    ("logout/", auth.logout_view, "logout"),
    # members
    ("members/", members.member_list, "members"),
    ("members/new/", members.member_new, "member_new"),
    ("members/new/preview/", members.member_new_preview, "member_new_preview"),
    (MEMBER, members.member_detail, "member"),
    (f"{MEMBER}change/", members.member_change, "member_change"),
    (
        f"{MEMBER}change/preview/",
        members.member_change_preview,
        "member_change_preview",
    ),
    (f"{MEMBER}renew/", members.member_renew, "member_renew"),
    (f"{MEMBER}cancel/", members.member_cancel, "member_cancel"),
    (f"{MEMBER}delete/", members.member_delete, "member_delete"),
    (f"{MEMBER}settings/", members.member_settings, "member_settings"),
    (f"{MEMBER}keys/rotate/", members.member_key_rotate, "member_key_rotate"),
    (f"{MEMBER}keys/revoke/", members.member_keys_revoke, "member_keys_revoke"),
    (f"{MEMBER}connections/", streams.member_connections, "member_connections"),
    (
        f"{MEMBER}connections/disconnect/",
        streams.member_connections_disconnect,
        "member_connections_disconnect",
    ),
    # money
    ("ledger/", ledger.ledger_list, "ledger"),
    ("ledger/export.csv", ledger.ledger_export, "ledger_export"),
    ("ledger/<int:transaction_id>/reverse", ledger.ledger_reverse, "ledger_reverse"),
    ("credits/", credits.credits_page, "credits"),
    ("credits/quote/", credits.credits_quote, "credits_quote"),
    ("credits/purchase/", credits.credits_purchase, "credits_purchase"),
    ("credits/refund/", credits.credits_refund, "credits_refund"),
    # organisation
    ("plans/", org.plan_list, "plans"),
    ("plans/sync/", org.plan_sync, "plans_sync"),
    ("audit/", org.audit_list, "audit"),
    ("tokens/", org.token_list, "tokens"),
    ("tokens/<int:token_id>/revoke/", org.token_revoke, "token_revoke"),
    ("settings/", org.org_settings_view, "settings"),
    # notifications
    ("notifications/", notifications.notification_list, "notifications"),
    (DELIVERY, notifications.delivery_detail, "delivery"),
    (f"{DELIVERY}redeliver/", notifications.delivery_redeliver, "delivery_redeliver"),
    ("webhooks/new/", notifications.webhook_new, "webhook_new"),
    (f"{WEBHOOK}edit/", notifications.webhook_edit, "webhook_edit"),
    (f"{WEBHOOK}rotate/", notifications.webhook_rotate, "webhook_rotate"),
    (f"{WEBHOOK}delete/", notifications.webhook_delete, "webhook_delete"),
]

urlpatterns = [path(route, view, name=name) for route, view, name in ROUTES]
