from django.apps import AppConfig


class OtlpConfig(AppConfig):
    name = "apps.otlp"
    label = "otlp"
    verbose_name = "OpenTelemetry intake"
    default_auto_field = "django.db.models.BigAutoField"
