from __future__ import annotations

from django.contrib import admin

from apps.alerts.models import (
    Alert,
    AlertMute,
    AlertPolicy,
    AlertRule,
    Delivery,
    Notification,
    PersonalSettings,
    PushSubscription,
    TeamChannel,
    VapidKey,
)
from apps.core.admin import OwnerAdmin, ReadOnlyOwnerAdmin


@admin.register(AlertRule)
class AlertRuleAdmin(OwnerAdmin):
    list_display = ("name", "event_kind", "project", "severity", "threshold", "window_minutes",
                    "action_interval_minutes", "enabled")
    list_filter = ("enabled", "severity", "event_kind")
    search_fields = ("name", "event_kind")

    def save_model(self, request, obj, form, change):  # noqa: ANN001
        from apps.alerts import rules

        super().save_model(request, obj, form, change)
        rules.invalidate()


@admin.register(AlertPolicy)
class AlertPolicyAdmin(OwnerAdmin):
    list_display = ("quiet_hours_enabled", "quiet_start", "quiet_end", "timezone")


class NotificationInline(admin.TabularInline):
    model = Notification
    fields = ("created_at", "state", "reason", "title")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):  # noqa: ANN001
        return False


@admin.register(Alert)
class AlertAdmin(OwnerAdmin):
    list_display = ("title", "state", "severity", "project", "agent", "count", "last_fired_at")
    list_filter = ("state", "severity", "event_kind")
    search_fields = ("title", "message")
    raw_id_fields = ("agent", "rule", "acknowledged_by", "resolved_by", "snoozed_by")
    list_select_related = ("project", "agent")
    inlines = [NotificationInline]


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("channel", "target", "state", "attempts", "last_error", "sent_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # noqa: ANN001
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyOwnerAdmin):
    list_display = ("created_at", "state", "subject", "severity", "title", "is_test")
    list_filter = ("state", "severity", "is_test")
    search_fields = ("title", "subject")
    inlines = [DeliveryInline]


@admin.action(description="Retry the selected deliveries now")
def retry_deliveries(modeladmin, request, queryset):  # noqa: ANN001
    from django.db import transaction

    from apps.alerts.dispatch import enqueue

    ids = list(queryset.values_list("pk", flat=True))
    queryset.update(state="retrying", next_attempt_at=None)
    transaction.on_commit(lambda: enqueue(ids))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyOwnerAdmin):
    list_display = ("id", "created_at", "channel", "target", "state", "attempts", "sent_at")
    list_filter = ("state", "channel")
    search_fields = ("target", "last_error")
    actions = [retry_deliveries]

    def has_change_permission(self, request, obj=None):  # noqa: ANN001
        # The retry action needs change permission; the form itself stays read-only.
        return super(ReadOnlyOwnerAdmin, self).has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):  # noqa: ANN001
        return [f.name for f in self.model._meta.fields]


@admin.register(TeamChannel)
class TeamChannelAdmin(OwnerAdmin):
    list_display = ("name", "kind", "min_severity", "enabled", "created_at")
    list_filter = ("kind", "enabled")
    exclude = ("secret",)


@admin.register(PersonalSettings)
class PersonalSettingsAdmin(OwnerAdmin):
    list_display = ("user", "email_enabled", "email", "push_enabled", "severities")


@admin.register(PushSubscription)
class PushSubscriptionAdmin(OwnerAdmin):
    list_display = ("user", "user_agent", "created_at", "last_success_at")
    exclude = ("p256dh", "auth")


@admin.register(VapidKey)
class VapidKeyAdmin(ReadOnlyOwnerAdmin):
    list_display = ("public_key", "created_at")
    exclude = ("private_pem",)


@admin.register(AlertMute)
class AlertMuteAdmin(ReadOnlyOwnerAdmin):
    """Read here; muted from an alert's page, lifted here or there through the service (audit)."""

    list_display = ("__str__", "until", "created_by", "created_at", "lifted_at")
    list_select_related = ("agent", "rule", "created_by")
    actions = ["lift"]

    @admin.action(description="Lift the selected mutes")
    def lift(self, request, queryset):  # noqa: ANN001, ANN201
        from apps.alerts import services

        lifted = sum(services.mute_lift(mute=m, user=request.user, request=request)
                     for m in queryset)
        self.message_user(request, f"{lifted} mute(s) lifted.")
