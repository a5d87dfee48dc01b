from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.agents.urls")),
    path("", include("apps.linear.urls")),
    path("", include("apps.alerts.urls")),
    path("api/v1/", include("config.api_urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
