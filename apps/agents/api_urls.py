from __future__ import annotations

from django.conf import settings
from django.urls import path

from apps.agents import apis

urlpatterns = [
    path("agents", apis.AgentListView.as_view(), name="api-agents"),
    path("agents/<int:pk>", apis.AgentDetailView.as_view(), name="api-agent"),
    path("agents/<int:pk>/archive", apis.AgentArchiveView.as_view(), name="api-agent-archive"),
    path("agents/<int:pk>/unarchive", apis.AgentUnarchiveView.as_view(),
         name="api-agent-unarchive"),
    path("agents/<int:pk>/heartbeat", apis.HeartbeatView.as_view(), name="api-agent-heartbeat"),
    path("agents/<int:pk>/commands/<int:command_id>/ack", apis.CommandAckView.as_view(),
         name="api-agent-command-ack"),
    path("agents/<int:pk>/actions", apis.ActionView.as_view(), name="api-agent-actions"),
    path("agents/<int:pk>/assign", apis.AssignView.as_view(), name="api-agent-assign"),
    path("agents/<int:pk>/block", apis.BlockView.as_view(), name="api-agent-block"),
    path("agents/<int:pk>/unblock", apis.UnblockView.as_view(), name="api-agent-unblock"),
    path("agents/<int:pk>/complete", apis.CompleteView.as_view(), name="api-agent-complete"),
    path("agents/<int:pk>/error", apis.ErrorView.as_view(), name="api-agent-error"),
    path("agents/<int:pk>/tasks", apis.TaskListView.as_view(), name="api-agent-tasks"),
    path("agents/<int:pk>/tasks/<int:task_id>", apis.TaskDetailView.as_view(),
         name="api-agent-task"),
    path("agents/<int:pk>/workflow", apis.WorkflowView.as_view(), name="api-agent-workflow"),
    path("agents/<int:pk>/workflow/signal", apis.WorkflowSignalView.as_view(),
         name="api-agent-workflow-signal"),
    path("events", apis.EventsView.as_view(), name="api-events"),
    path("spans", apis.SpansView.as_view(), name="api-spans"),
    path("approvals", apis.ApprovalListView.as_view(), name="api-approvals"),
    path("approvals/<int:approval_id>", apis.ApprovalDetailView.as_view(), name="api-approval"),
    path("approvals/<int:approval_id>/expire", apis.ApprovalExpireView.as_view(),
         name="api-approval-expire"),
]

if settings.AGENTS_BENCHMARK_VIEWS:  # benchmarks/ingest.py only; off unless asked for
    from apps.agents.bench_views import bare_insert

    urlpatterns.append(path("bench/insert", bare_insert, name="api-bench-insert"))
