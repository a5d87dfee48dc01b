"""Owners run agents' data from the admin: agents and tasks editable, logs read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from apps.agents.models import (
    Agent,
    AgentCommand,
    AgentEvent,
    AgentTask,
    LifecyclePolicy,
    SleepSchedule,
    SleepWindow,
    ToolSpan,
    Workflow,
    WorkflowStep,
)
from apps.core.admin import OwnerAdmin, ReadOnlyOwnerAdmin


@admin.register(Agent)
class AgentAdmin(OwnerAdmin):
    """Edits go through the services, like the control room's: an event is recorded, pages
    update live, alerts follow. The status is changed with the actions (or the agent's page),
    never by editing the field, which would skip all of that."""

    list_display = ("name", "project", "kind", "status", "status_reason", "last_heartbeat_at",
                    "pending_commands")
    list_filter = ("status", "kind", "project")
    search_fields = ("name", "external_id", "model")
    raw_id_fields = ("parent", "current_task")
    readonly_fields = ("version", "created_at", "updated_at", "error_times", "pending_commands",
                       "status", "status_reason", "status_since", "previous_status",
                       "last_heartbeat_at", "archived_at")
    actions = ("stop_agents", "wake_agents", "unblock_agents")
    EDITABLE = ("name", "model", "kind", "metadata")

    def save_model(self, request: Any, obj: Agent, form: Any, change: bool) -> None:
        if not change:
            return super().save_model(request, obj, form, change)
        from apps.agents.services import agent_update

        fields = {f: getattr(obj, f) for f in self.EDITABLE if f in form.changed_data}
        other = [f for f in form.changed_data if f not in self.EDITABLE]
        if other:  # parent, current task, project: plain fields without side effects
            Agent.objects.filter(pk=obj.pk).update(**{f: getattr(obj, f) for f in other})
        agent_update(agent=obj, actor=request.user, **fields)

    def _act(self, request: Any, queryset: Any, action: str) -> None:
        from django.core.exceptions import ValidationError

        from apps.agents.services import agent_action

        done = 0
        for agent in queryset:
            try:
                agent_action(agent=agent, action=action, actor=request.user, reason="from the admin")
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{agent}: {' '.join(exc.messages)}", level="error")
        self.message_user(request, f"{action.capitalize()} sent to {done} agent(s).")

    @admin.action(description="Stop the selected agents")
    def stop_agents(self, request: Any, queryset: Any) -> None:
        self._act(request, queryset, "stop")

    @admin.action(description="Wake the selected agents")
    def wake_agents(self, request: Any, queryset: Any) -> None:
        self._act(request, queryset, "wake")

    @admin.action(description="Unblock the selected agents")
    def unblock_agents(self, request: Any, queryset: Any) -> None:
        self._act(request, queryset, "unblock")


@admin.register(AgentTask)
class AgentTaskAdmin(OwnerAdmin):
    list_display = ("title", "agent", "status", "priority", "linear_issue_id", "created_at")
    list_filter = ("status", "priority", "project")
    search_fields = ("title", "linear_issue_id")
    raw_id_fields = ("agent",)
    readonly_fields = ("version", "created_at", "updated_at")


@admin.register(AgentEvent)
class AgentEventAdmin(ReadOnlyOwnerAdmin):
    list_display = ("created_at", "kind", "agent", "actor_label", "project")
    list_filter = ("kind", "project")
    search_fields = ("kind", "actor_label", "idempotency_key")
    date_hierarchy = "created_at"
    list_select_related = ("agent", "project")


@admin.register(ToolSpan)
class ToolSpanAdmin(ReadOnlyOwnerAdmin):
    list_display = ("tool_name", "agent", "turn", "outcome", "latency_ms", "started_at")
    list_filter = ("outcome", "project")
    search_fields = ("tool_name", "span_id")
    list_select_related = ("agent",)


@admin.register(AgentCommand)
class AgentCommandAdmin(ReadOnlyOwnerAdmin):
    list_display = ("created_at", "agent", "action", "status", "delivery_count", "acked_at",
                    "actor_label")
    list_filter = ("action", "status", "project")
    list_select_related = ("agent",)


@admin.register(LifecyclePolicy)
class LifecyclePolicyAdmin(OwnerAdmin):
    list_display = ("project", "idle_after_seconds", "offline_after_seconds",
                    "error_window_seconds", "block_after_errors", "sleep_after_errors")


class SleepWindowInline(admin.TabularInline):
    model = SleepWindow
    extra = 1

    def has_view_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return OwnerAdmin.has_view_permission(self, request, obj)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return OwnerAdmin.has_change_permission(self, request, obj)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return OwnerAdmin.has_add_permission(self, request)

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return OwnerAdmin.has_delete_permission(self, request, obj)


@admin.register(SleepSchedule)
class SleepScheduleAdmin(OwnerAdmin):
    list_display = ("__str__", "project", "agent", "timezone", "enabled")
    list_filter = ("enabled", "project")
    raw_id_fields = ("agent",)
    inlines = [SleepWindowInline]


class WorkflowStepInline(admin.TabularInline):
    model = WorkflowStep
    extra = 0
    can_delete = False
    readonly_fields = ("position", "kind", "title", "status", "task", "approved_by",
                       "finished_at")
    fields = readonly_fields

    def has_view_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return OwnerAdmin.has_view_permission(self, request, obj)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Workflow)
class WorkflowAdmin(ReadOnlyOwnerAdmin):
    list_display = ("__str__", "agent", "status", "position", "created_at")
    list_filter = ("status", "project")
    inlines = [WorkflowStepInline]
