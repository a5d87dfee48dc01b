from __future__ import annotations

from django.urls import path

from apps.benches import run_apis

urlpatterns = [
    path("benches/suites", run_apis.SuiteListView.as_view(), name="api-bench-suites"),
    path("benches/suites/<int:pk>", run_apis.SuiteDetailView.as_view(), name="api-bench-suite"),
    path("benches/suites/<int:pk>/baseline", run_apis.SuiteBaselineView.as_view(),
         name="api-bench-suite-baseline"),
    path("benches/runs", run_apis.RunListView.as_view(), name="api-bench-runs"),
    path("benches/runs/<int:pk>", run_apis.RunDetailView.as_view(), name="api-bench-run"),
    path("benches/runs/<int:pk>/cancel", run_apis.RunCancelView.as_view(),
         name="api-bench-run-cancel"),
    path("benches/runs/<int:pk>/samples", run_apis.RunSamplesView.as_view(),
         name="api-bench-run-samples"),
]
