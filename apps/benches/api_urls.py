from __future__ import annotations

from django.urls import path

from apps.benches import apis

urlpatterns = [
    path("benches/endpoints", apis.EndpointListView.as_view(), name="api-bench-endpoints"),
    path("benches/endpoints/<int:pk>", apis.EndpointDetailView.as_view(),
         name="api-bench-endpoint"),
    path("benches/endpoints/<int:pk>/probe", apis.EndpointProbeView.as_view(),
         name="api-bench-endpoint-probe"),
    path("benches/endpoints/<int:pk>/models", apis.EndpointModelsView.as_view(),
         name="api-bench-endpoint-models"),
]
