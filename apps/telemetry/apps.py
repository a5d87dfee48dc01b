from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "apps.telemetry"
    label = "telemetry"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.nav import register_nav
        from apps.core.schedule import add_periodic

        register_nav("Analytics", "analytics", order=35)

        add_periodic("telemetry-rollup", "telemetry.rollup", settings.TELEMETRY_ROLLUP_SECONDS)
