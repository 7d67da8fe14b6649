"""Django admin: a read-only window on the data. Every change goes through the services
(the REST API, and the portal), never through admin forms, so the ledger stays exact."""

from django.contrib import admin

from members import models


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Member)
class MemberAdmin(ReadOnlyAdmin):
    list_display = ["uid", "full_name", "plan", "status", "term_end", "auto_renew"]
    list_filter = ["status", "plan"]
    search_fields = ["uid", "full_name", "email"]
    exclude = ["upstream_key_encrypted"]


@admin.register(models.Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = ["name", "price", "tier", "is_custom", "rate_limit", "quota"]


@admin.register(models.Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "member_uid", "status", "amount", "created_at"]
    list_filter = ["status", "kind"]


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id"]
    list_filter = ["action"]


@admin.register(models.ServiceToken)
class ServiceTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["token_hash"]
