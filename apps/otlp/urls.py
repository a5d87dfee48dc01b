from django.urls import path

from apps.otlp.views import otlp_intake

SIGNALS = ("logs", "metrics", "traces")

# Mounted at the site's root (OTEL_EXPORTER_OTLP_ENDPOINT=https://switchboard.example.com, the
# exporters add /v1/<signal>) and under /api/v1/otlp/.
urlpatterns = [
    path(f"v1/{signal}", otlp_intake, {"signal": signal}, name=f"otlp-{signal}")
    for signal in SIGNALS
]
