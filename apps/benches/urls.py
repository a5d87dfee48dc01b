from __future__ import annotations

from django.urls import path

from apps.benches import views

urlpatterns = [
    path("benches/suites/", views.suites_page, name="bench-suites"),
    path("benches/suites/new/", views.suite_new, name="bench-suite-new"),
    path("benches/suites/<int:pk>/edit/", views.suite_edit, name="bench-suite-edit"),
    path("benches/suites/<int:pk>/delete/", views.suite_delete, name="bench-suite-delete"),
    path("benches/suites/<int:pk>/run/", views.suite_run, name="bench-suite-run"),
    path("benches/runs/", views.runs_page, name="bench-runs"),
    path("benches/runs/<int:pk>/", views.run_detail, name="bench-run"),
    path("benches/runs/<int:pk>.md", views.run_export, name="bench-run-markdown"),
    path("benches/runs/<int:pk>/cancel/", views.run_cancel, name="bench-run-cancel"),
    path("benches/runs/<int:pk>/pin/", views.run_pin, name="bench-run-pin"),
    path("benches/compare/", views.compare_page, name="bench-compare"),
    path("benches/history/", views.history_page, name="bench-history"),
]
