from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "apps.telemetry"
    label = "telemetry"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.schedule import add_periodic

        add_periodic("telemetry-rollup", "telemetry.rollup", settings.TELEMETRY_ROLLUP_SECONDS)
