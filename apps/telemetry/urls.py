from __future__ import annotations

from django.urls import path

from apps.telemetry import views

urlpatterns = [
    path("analytics/", views.analytics_page, name="analytics"),
    path("analytics/export.csv", views.analytics_csv, name="analytics-csv"),
]
