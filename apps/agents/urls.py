from __future__ import annotations

from django.urls import path

from apps.agents import views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("agents/", views.agents_list, name="agents-list"),
    path("agents/archive-finished/", views.agents_archive_finished,
         name="agents-archive-finished"),
    path("agents/<int:pk>/", views.agent_detail, name="agent-detail"),
    path("agents/<int:pk>/spans/<int:span_pk>/", views.agent_span, name="agent-span"),
    path("agents/<int:pk>/manage/", views.agent_manage, name="agent-manage"),
    path("agents/<int:pk>/action/", views.agent_action, name="agent-action"),
    path("agents/<int:pk>/approvals/<int:approval_id>/", views.agent_approval,
         name="agent-approval"),
    path("agents/<int:pk>/assign/", views.agent_assign, name="agent-assign"),
    path("agents/<int:pk>/workflow/", views.agent_workflow, name="agent-workflow"),
    path("agents/<int:pk>/signal/", views.agent_signal, name="agent-signal"),
    path("agents/<int:pk>/schedule/", views.agent_schedule, name="agent-schedule"),
    path("approvals/decide/", views.approval_from_notification,
         name="approval-from-notification"),
    path("activity/", views.activity, name="activity"),
    path("projects/<slug:slug>/lifecycle/", views.project_lifecycle, name="project-lifecycle"),
]
