from __future__ import annotations

from django.urls import path

from apps.alerts.consumers import AlertsInboxConsumer
from apps.benches.consumers import (
    EndpointsConsumer,
    RunPageConsumer,
    RunsListConsumer,
    SuitesConsumer,
)
from apps.linear.consumers import BoardConsumer
from apps.realtime import agent_pages
from apps.realtime.connect_page import ConnectConsumer

websocket_urlpatterns: list = [
    path("ws/overview/", agent_pages.OverviewConsumer.as_asgi()),
    path("ws/agents/", agent_pages.AgentsListConsumer.as_asgi()),
    path("ws/agents/<int:pk>/", agent_pages.AgentDetailConsumer.as_asgi()),
    path("ws/activity/", agent_pages.ActivityConsumer.as_asgi()),
    path("ws/alerts/", AlertsInboxConsumer.as_asgi()),
    path("ws/board/", BoardConsumer.as_asgi()),
    path("ws/connect/", ConnectConsumer.as_asgi()),
    path("ws/benches/endpoints/", EndpointsConsumer.as_asgi()),
    path("ws/benches/runs/", RunsListConsumer.as_asgi()),
    path("ws/benches/runs/<int:pk>/", RunPageConsumer.as_asgi()),
    path("ws/benches/suites/", SuitesConsumer.as_asgi()),
]
