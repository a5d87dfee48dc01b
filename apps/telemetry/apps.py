from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "apps.telemetry"
    label = "telemetry"

    def ready(self) -> None:
        from django.conf import settings

        from apps.alerts.messages import register_builder
        from apps.core.nav import register_nav
        from apps.core.schedule import add_periodic

        register_nav("Analytics", "analytics", order=35)
        register_nav("Reports", "reports", order=36)

        add_periodic("telemetry-rollup", "telemetry.rollup", settings.TELEMETRY_ROLLUP_SECONDS)
        add_periodic("telemetry-retention", "telemetry.retention", settings.RETENTION_RUN_SECONDS)
        add_periodic("telemetry-reports", "telemetry.reports", settings.TELEMETRY_REPORTS_SECONDS)
        # Reports go out as "report:<id>" notifications through the alerts' transports.
        register_builder("report", _report_message)


def _report_message(notification: Any) -> Any:
    from apps.telemetry.digest import build_message

    return build_message(notification)
