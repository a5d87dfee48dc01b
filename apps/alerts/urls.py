from __future__ import annotations

from django.urls import path

from apps.alerts import views

urlpatterns = [
    path("alerts/", views.inbox, name="alerts-inbox"),
    path("alerts/<int:pk>/", views.alert_detail, name="alerts-detail"),
    path("alerts/<int:pk>/ack/", views.alert_ack, name="alerts-ack"),
    path("alerts/<int:pk>/resolve/", views.alert_resolve, name="alerts-resolve"),
    path("alerts/<int:pk>/snooze/", views.alert_snooze, name="alerts-snooze"),
    path("alerts/bulk/", views.alerts_bulk, name="alerts-bulk"),
    path("alerts/mutes/", views.mutes, name="alerts-mutes"),
    path("alerts/mutes/<int:pk>/lift/", views.mute_lift, name="alerts-mute-lift"),
    path("settings/alerts/", views.rules, name="alerts-rules"),
    path("settings/alerts/new/", views.rule_edit, name="alerts-rule-new"),
    path("settings/alerts/<int:pk>/", views.rule_edit, name="alerts-rule-edit"),
    path("settings/alerts/<int:pk>/delete/", views.rule_delete, name="alerts-rule-delete"),
    path("settings/alerts/channels/", views.channels, name="alerts-channels"),
    path("settings/alerts/channels/<int:pk>/toggle/", views.channel_toggle, name="alerts-channel-toggle"),
    path("settings/alerts/channels/<int:pk>/delete/", views.channel_delete, name="alerts-channel-delete"),
    path("settings/alerts/channels/<int:pk>/test/", views.channel_test, name="alerts-channel-test"),
    path("settings/notifications/", views.personal, name="alerts-personal"),
    path("settings/notifications/test/", views.personal_test, name="alerts-personal-test"),
    path("settings/notifications/push/", views.push_subscribe, name="alerts-push-subscribe"),
    path("settings/notifications/push/remove/", views.push_unsubscribe, name="alerts-push-unsubscribe"),
    path("sw.js", views.service_worker, name="alerts-service-worker"),
]
