from __future__ import annotations

from django.urls import path

from apps.telemetry import apis

urlpatterns = [
    path("analytics/series", apis.SeriesView.as_view(), name="api-analytics-series"),
    path("analytics/totals", apis.TotalsView.as_view(), name="api-analytics-totals"),
]
