"""The webhook endpoint (plain Django: verify, store, answer in milliseconds) and the
read-only issues API (DRF)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import generics, serializers

from apps.core.api.permissions import api_key_of
from apps.linear import selectors
from apps.linear.models import LinearIssue
from apps.linear.webhooks import Rejection, delivery_store, verify


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> JsonResponse:
    try:
        delivery_id, payload = verify(body=request.body, headers=request.headers)
    except Rejection as exc:
        response = JsonResponse({"error": exc.message, "details": {}}, status=exc.status)
        if exc.status == 503:
            response["Retry-After"] = "60"
        return response
    _, created = delivery_store(delivery_id=delivery_id, payload=payload)
    return JsonResponse({"status": "accepted" if created else "duplicate", "delivery": delivery_id})


class IssueSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.key")
    state = serializers.SerializerMethodField()
    assignee = serializers.SerializerMethodField()
    project = serializers.CharField(source="project.name", default=None)
    cycle = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()

    class Meta:
        model = LinearIssue
        fields = [
            "id",
            "linear_id",
            "identifier",
            "title",
            "description",
            "team",
            "state",
            "priority",
            "estimate",
            "assignee",
            "project",
            "cycle",
            "labels",
            "url",
            "created_at_linear",
            "updated_at_linear",
            "archived_at",
            "version",
        ]

    def get_state(self, obj: LinearIssue) -> dict[str, Any] | None:
        s = obj.state
        return {"id": s.linear_id, "name": s.name, "type": s.type} if s else None

    def get_assignee(self, obj: LinearIssue) -> dict[str, Any] | None:
        a = obj.assignee
        return {"id": a.linear_id, "name": a.name, "email": a.email} if a else None

    def get_cycle(self, obj: LinearIssue) -> int | None:
        return obj.cycle.number if obj.cycle else None

    def get_labels(self, obj: LinearIssue) -> list[str]:
        return [label.name for label in obj.labels.all()]


class IssueList(generics.ListAPIView):
    """Local copy of Linear issues. Filters: project (slug; a project key sees its own),
    state (name, type or Linear id), assignee (Linear id, email or name), agent (agent id)."""

    serializer_class = IssueSerializer

    def get_queryset(self) -> Any:
        from django.shortcuts import get_object_or_404

        from apps.projects.models import Project

        params = self.request.query_params
        key = api_key_of(self.request)
        project = key.project if key is not None else None
        slug = params.get("project", "")
        if project is None and slug:
            project = get_object_or_404(Project, slug=slug)
        return selectors.api_issues(
            project=project,
            state=params.get("state", "").strip(),
            assignee=params.get("assignee", "").strip(),
            agent=params.get("agent", "").strip(),
        )
