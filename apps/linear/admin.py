from __future__ import annotations

from django.contrib import admin

from apps.core.admin import OwnerAdmin, ReadOnlyOwnerAdmin
from apps.linear.models import (
    LinearConnection,
    LinearCycle,
    LinearIssue,
    LinearLabel,
    LinearProject,
    LinearTeam,
    LinearUser,
    LinearWorkflowState,
    ProjectMapping,
    RoutingRule,
    RoutingTarget,
    SyncRun,
    WebhookDelivery,
)


@admin.register(LinearConnection)
class LinearConnectionAdmin(OwnerAdmin):
    # Secrets stay encrypted and out of the form; owners set the key on the settings page.
    list_display = (
        "__str__",
        "api_key_hint",
        "api_url",
        "webhook_id",
        "last_sync_at",
        "last_error",
    )
    fields = (
        "api_url",
        "api_key_hint",
        "organization_name",
        "viewer_name",
        "webhook_id",
        "webhook_url",
        "sync_watermark",
        "last_full_sync_at",
        "last_sync_at",
        "last_error",
    )
    readonly_fields = (
        "api_key_hint",
        "organization_name",
        "viewer_name",
        "webhook_id",
        "webhook_url",
        "last_full_sync_at",
        "last_sync_at",
    )


class RoutingTargetInline(admin.TabularInline):
    model = RoutingTarget
    extra = 1

    # The parent OwnerAdmin already limits the page to owners; inlines follow it.
    def has_view_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return True

    has_change_permission = has_add_permission = has_delete_permission = has_view_permission


@admin.register(RoutingRule)
class RoutingRuleAdmin(OwnerAdmin):
    list_display = (
        "name",
        "enabled",
        "order",
        "team",
        "linear_project",
        "label",
        "priority",
        "complete_state",
        "comment_on_complete",
    )
    list_filter = ("enabled",)
    inlines = [RoutingTargetInline]


@admin.register(ProjectMapping)
class ProjectMappingAdmin(OwnerAdmin):
    list_display = ("project", "team", "linear_project", "created_at")


@admin.register(LinearIssue)
class LinearIssueAdmin(OwnerAdmin):
    list_display = (
        "identifier",
        "title",
        "team",
        "state",
        "priority",
        "assignee",
        "updated_at_linear",
        "archived_at",
        "deleted_at",
    )
    list_filter = ("team", "priority")
    search_fields = ("identifier", "title", "linear_id")
    list_select_related = ("team", "state", "assignee")
    raw_id_fields = (
        "state",
        "assignee",
        "project",
        "cycle",
        "pending_from_state",
        "route_rule",
        "last_seen_run",
    )
    filter_horizontal = ("labels",)


@admin.register(LinearTeam)
class LinearTeamAdmin(OwnerAdmin):
    list_display = ("name", "key", "linear_id", "archived_at")
    search_fields = ("name", "key")


@admin.register(LinearWorkflowState)
class LinearWorkflowStateAdmin(OwnerAdmin):
    list_display = ("name", "team", "type", "position")
    list_filter = ("team", "type")


@admin.register(LinearProject)
class LinearProjectAdmin(OwnerAdmin):
    list_display = ("name", "state", "archived_at")
    search_fields = ("name",)


@admin.register(LinearCycle)
class LinearCycleAdmin(OwnerAdmin):
    list_display = ("__str__", "team", "number", "starts_at", "ends_at")


@admin.register(LinearLabel)
class LinearLabelAdmin(OwnerAdmin):
    list_display = ("name", "team", "color")
    search_fields = ("name",)


@admin.register(LinearUser)
class LinearUserAdmin(OwnerAdmin):
    list_display = ("name", "display_name", "email", "active")
    search_fields = ("name", "email")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyOwnerAdmin):
    list_display = ("started_at", "kind", "status", "requests", "attempts", "finished_at", "error")
    list_filter = ("kind", "status")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyOwnerAdmin):
    list_display = ("received_at", "resource_type", "action", "status", "delivery_id")
    list_filter = ("resource_type", "status")
    search_fields = ("delivery_id", "resource_id")
