"""Django admin: brokerage links, read-only and without their tokens. Changes go
through the API or the portal, which audit them."""

from django.contrib import admin

from brokerage import selectors
from brokerage.models import BrokerageLink
from members.admin import ReadOnlyAdmin


@admin.register(BrokerageLink)
class BrokerageLinkAdmin(ReadOnlyAdmin):
    list_display = [
        "member",
        "accounts",
        "token_status",
        "expires_at",
        "refreshed_at",
        "linked_at",
    ]
    list_select_related = ["member"]
    search_fields = ["member__uid"]
    exclude = [
        "access_token_encrypted",
        "refresh_token_encrypted",
        "refresh_claim",
    ]

    @admin.display(description="accounts")
    def accounts(self, link: BrokerageLink) -> str:
        return ", ".join(link.account_ids)

    @admin.display(description="token status")
    def token_status(self, link: BrokerageLink) -> str:
        return selectors.link_status(link)
