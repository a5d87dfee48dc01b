from __future__ import annotations

from django.urls import path

from apps.benches import endpoint_views as views

urlpatterns = [
    path("benches/", views.endpoints, name="benches"),
    path("benches/endpoints/new", views.endpoint_new, name="bench-endpoint-new"),
    path("benches/endpoints/<int:pk>/edit", views.endpoint_edit, name="bench-endpoint-edit"),
    path("benches/endpoints/<int:pk>/delete", views.endpoint_delete, name="bench-endpoint-delete"),
    path("benches/endpoints/<int:pk>/probe", views.endpoint_probe_now, name="bench-endpoint-probe"),
    path("benches/endpoints/<int:pk>/models", views.endpoint_models_refresh,
         name="bench-endpoint-models"),
]
