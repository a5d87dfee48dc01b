from __future__ import annotations

from django.urls import path

from apps.projects import connect_views, views

urlpatterns = [
    path("projects/", views.project_list, name="project-list"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/<slug:slug>/", views.project_settings, name="project-settings"),
    path("projects/<slug:slug>/archive/", views.project_archive, name="project-archive"),
    path("projects/<slug:slug>/keys/", views.project_keys, name="project-keys"),
    path("projects/<slug:slug>/connect/", connect_views.project_connect, name="project-connect"),
    path("downloads/<str:name>", connect_views.client_download, name="client-download"),
    path(
        "projects/<slug:slug>/keys/<int:pk>/revoke/",
        views.api_key_revoke,
        name="project-key-revoke",
    ),
]
