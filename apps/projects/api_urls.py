from __future__ import annotations

from django.urls import path

from apps.projects import apis

urlpatterns = [
    path("whoami", apis.whoami, name="api-whoami"),
    path("projects", apis.ProjectListApi.as_view(), name="api-projects"),
    path("projects/current", apis.whoami, name="api-project-current"),
    path("projects/<slug:slug>", apis.project_detail, name="api-project"),
]
