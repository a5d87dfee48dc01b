from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from django.conf import settings

        from apps.alerts.reactor import on_event, record_pending, record_pending_bulk, wanted
        from apps.core.events import register_bulk_recorder, register_reactor, register_recorder
        from apps.core.nav import register_nav
        from apps.core.roles import Role
        from apps.core.schedule import add_periodic

        register_recorder("alerts", record_pending, wants=wanted)
        register_bulk_recorder("alerts", record_pending_bulk)
        register_reactor("alerts", on_event)
        register_nav("Alerts", "alerts-inbox", order=45)
        register_nav("Alert rules", "alerts-rules", order=40, role=Role.ADMIN, section="settings")
        register_nav("Notification channels", "alerts-channels", order=41, role=Role.ADMIN,
                     section="settings")
        register_nav("My notifications", "alerts-personal", order=42, section="settings")
        from apps.alerts.search import find_alerts
        from apps.core.search import register_search

        register_search("alerts", "Alerts", find_alerts, order=30)
        add_periodic("alerts-sweep", "alerts.sweep", settings.ALERTS_SWEEP_SECONDS)
