from __future__ import annotations

from django.urls import path

from apps.alerts import apis

urlpatterns = [
    path("alerts", apis.AlertListView.as_view(), name="api-alerts"),
    path("alerts/<int:pk>/ack", apis.AlertAckView.as_view(), name="api-alert-ack"),
    path("alerts/<int:pk>/resolve", apis.AlertResolveView.as_view(), name="api-alert-resolve"),
    path("alerts/<int:pk>/snooze", apis.AlertSnoozeView.as_view(), name="api-alert-snooze"),
    path("alerts/bulk", apis.AlertBulkView.as_view(), name="api-alerts-bulk"),
    path("alerts/mutes", apis.MuteListView.as_view(), name="api-alert-mutes"),
    path("alerts/mutes/<int:pk>", apis.MuteLiftView.as_view(), name="api-alert-mute"),
    path("settings/alerts", apis.RuleSettingsView.as_view(), name="api-alert-rules"),
    path("settings/alerts/<int:pk>", apis.RuleDeleteView.as_view(), name="api-alert-rule"),
]
