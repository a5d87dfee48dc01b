"""Everything under /api/v1/. Each app contributes its own api_urls module."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("apps.projects.api_urls")),
    path("", include("apps.agents.api_urls")),
    path("", include("apps.linear.api_urls")),
    path("", include("apps.alerts.api_urls")),
    path("", include("apps.telemetry.api_urls")),
    path("", include("apps.benches.run_api_urls")),
]
