"""Django admin: read-only, like members' (see members/admin.py for why)."""

from django.contrib import admin

from billing import models
from members.admin import ReadOnlyAdmin


@admin.register(models.LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "memo", "actor", "created_at"]
    list_filter = ["kind"]
