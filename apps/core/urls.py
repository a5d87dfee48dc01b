from django.urls import path

from apps.core import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("settings/system/", views.system_status, name="system-status"),
    path("search/", views.search, name="search"),
]
