from __future__ import annotations

from django.urls import path

from apps.telemetry import views

urlpatterns = [
    path("analytics/", views.analytics_page, name="analytics"),
    path("analytics/export.csv", views.analytics_csv, name="analytics-csv"),
    path("reports/", views.reports_page, name="reports"),
    path("reports/<int:pk>/", views.report_detail, name="report-detail"),
    path("reports/<int:pk>.md", views.report_markdown, name="report-markdown"),
    path("reports/digest/", views.digest_save, name="report-digest"),
    path("reports/digest/test/", views.digest_test, name="report-digest-test"),
]
