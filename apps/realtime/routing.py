from __future__ import annotations

from django.urls import path  # noqa: F401  (consumers add their paths here)

websocket_urlpatterns: list = []
