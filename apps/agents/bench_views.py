"""A bare Django view doing one INSERT: the yardstick benchmarks/ingest.py compares the
heartbeat endpoint with. Routed only when AGENTS_BENCHMARK_VIEWS is on (never in production)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.agents.models import AgentEvent


@csrf_exempt
@require_POST
def bare_insert(request: HttpRequest) -> JsonResponse:
    project_id = request.GET.get("project", "")
    if not project_id.isdigit():
        return JsonResponse({"error": "project id required"}, status=400)
    event = AgentEvent.objects.create(project_id=int(project_id), kind="bench.insert")
    return JsonResponse({"id": event.pk})
