from django.contrib import admin
from django.urls import include, path

from apps.core.views import admin_login
from apps.telemetry.views import metrics

urlpatterns = [
    path("", include("apps.core.urls")),
    path("metrics", metrics, name="metrics"),
    path("", include("apps.accounts.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.agents.urls")),
    path("", include("apps.linear.urls")),
    path("", include("apps.alerts.urls")),
    path("", include("apps.telemetry.urls")),
    path("", include("apps.benches.endpoint_urls")),
    path("", include("apps.benches.urls")),
    path("api/v1/", include("config.api_urls")),
    path("", include("apps.otlp.urls")),  # OTLP/HTTP: /v1/logs, /v1/metrics, /v1/traces
    path("api/v1/otlp/", include(("apps.otlp.urls", "otlp"), namespace="otlp-api")),
    path("accounts/", include("allauth.urls")),
    # Before the admin's own: sign-in (and its lockout) is the site's, see admin_login.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
]

# Unknown /api/ paths and failures outside DRF answer JSON; pages keep Django's HTML.
handler404 = "apps.core.api.errors.page_not_found"
handler500 = "apps.core.api.errors.server_error"
