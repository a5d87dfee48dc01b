"""The Django admin is for owners only, whatever their is_staff/is_superuser flags."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.core import roles
from apps.core.models import AuditEntry, ServiceBeat


def _owner_only(request: HttpRequest) -> bool:
    return roles.is_owner(request.user)


admin.site.has_permission = _owner_only  # type: ignore[method-assign]
admin.site.site_header = "Switchboard admin"
admin.site.site_title = "Switchboard admin"
admin.site.index_title = "Owners' administration"


class OwnerAdmin(admin.ModelAdmin):
    """Base for every ModelAdmin: owners may view, change, add and delete."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _owner_only(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _owner_only(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _owner_only(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _owner_only(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _owner_only(request)


class ReadOnlyOwnerAdmin(OwnerAdmin):
    """Append-only logs: owners read them, nobody edits them."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyOwnerAdmin):
    list_display = ("created_at", "actor_label", "action", "target_type", "target_label", "ip")
    list_filter = ("action", "target_type")
    search_fields = ("actor_label", "action", "target_label", "ip")
    date_hierarchy = "created_at"


@admin.register(ServiceBeat)
class ServiceBeatAdmin(ReadOnlyOwnerAdmin):
    list_display = ("name", "last_seen_at")
