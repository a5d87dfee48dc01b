"""The agent REST API under /api/v1/ (docs/CONTRACTS.md, "Agent REST API"). Thin adapters:
parse, scope to the key's project, call a service, render. A project key sees only its
project; an unknown id or another project's is a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.agents import approvals, ingest, services, workflows
from apps.agents import serializers as s
from apps.agents.models import (
    Agent,
    AgentCommand,
    AgentEvent,
    AgentTask,
    ApprovalRequest,
    ToolSpan,
    Workflow,
)
from apps.core.api.permissions import api_key_of
from apps.core.api.query import id_param
from apps.core.api.throttles import WriteKeyThrottle
from apps.projects.models import Project
from apps.telemetry.selectors import usage_annotations

ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Agent id")


# --- scoping --------------------------------------------------------------------------------
def key_project(request: Request) -> Project | None:
    key = api_key_of(request)
    return key.project if key is not None else None


def write_project(request: Request) -> Project:
    """The project a write lands in: the key's, or `project` (slug) for a browser session."""
    project = key_project(request)
    if project is not None:
        return project
    slug = request.data.get("project") if isinstance(request.data, dict) else None
    if not slug:
        raise ValidationError({"project": ["Required when not using a project API key."]})
    return get_object_or_404(Project.objects.active(), slug=slug)


def agents_qs(request: Request, *, usage: bool = False) -> QuerySet[Agent]:
    """Agents with current task and sub-agent count in the same query (no N+1); with `usage`,
    their token and cost totals too (subqueries of the same query)."""
    children = (
        Agent.objects.filter(parent=OuterRef("pk")).order_by().values("parent")
        .annotate(n=Count("pk")).values("n")
    )
    qs = Agent.objects.select_related("current_task").annotate(
        sub_agent_count=Coalesce(Subquery(children, output_field=IntegerField()), 0)
    )
    if usage:
        qs = qs.annotate(**usage_annotations(full=True))
    project = key_project(request)
    return qs.filter(project=project) if project is not None else qs


def get_agent(request: Request, pk: int, *, usage: bool = False) -> Agent:
    return get_object_or_404(agents_qs(request, usage=usage), pk=pk)


def in_scope(request: Request, qs: QuerySet) -> QuerySet:
    project = key_project(request)
    return qs.filter(project=project) if project is not None else qs


def actor_of(request: Request) -> tuple[Any, str]:
    key = api_key_of(request)
    if key is not None:
        return None, f"key:{key.prefix}"
    return request.user, ""


def valid(serializer_class: type, request: Request, **context: Any) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, context=context)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def fresh(request: Request, agent: Agent) -> dict[str, Any]:
    return s.agent_json(get_agent(request, agent.pk, usage=True))


# --- agents ---------------------------------------------------------------------------------
class AgentListView(GenericAPIView):
    serializer_class = s.AgentSerializer

    @extend_schema(
        summary="List agents",
        parameters=[
            OpenApiParameter("project", str, description="Project slug or id"),
            OpenApiParameter("status", str, description="One status or a comma-separated list"),
            OpenApiParameter("kind", str),
            OpenApiParameter("model", str, description="Exact model name"),
            OpenApiParameter("label", str, description="Exact label"),
            OpenApiParameter("owner", int, description="Agents this user answers for"),
            OpenApiParameter("parent", int, description="Sub-agents of this agent"),
        ],
        responses=s.AgentSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        qs = agents_qs(request, usage=True).order_by("-id")
        params = request.query_params
        if params.get("project"):
            value = params["project"]
            qs = qs.filter(project_id=value) if value.isdigit() else qs.filter(project__slug=value)
        if params.get("status"):
            qs = qs.filter(status__in=params["status"].split(","))
        if params.get("kind"):
            qs = qs.filter(kind=params["kind"])
        if params.get("model"):
            qs = qs.filter(model=params["model"])
        if params.get("label"):
            qs = qs.filter(label=params["label"])
        owner = id_param(request, "owner")
        if owner is not None:
            qs = qs.filter(owner_id=owner)
        parent = id_param(request, "parent")
        if parent is not None:
            qs = qs.filter(parent_id=parent)
        page = self.paginate_queryset(qs)
        now = timezone.now()
        return self.get_paginated_response([s.agent_json(a, now) for a in page])

    @extend_schema(summary="Register an agent (idempotent on external_id)",
                   request=s.AgentRegisterSerializer,
                   responses={200: s.AgentSerializer, 201: s.AgentSerializer})
    def post(self, request: Request) -> Response:
        project = write_project(request)
        data = valid(s.AgentRegisterSerializer, request, project=project)
        actor, label = actor_of(request)
        agent, created = services.agent_register(project=project, actor_label=label,
                                                 owner=actor, **data)
        return Response(fresh(request, agent), status=201 if created else 200)


class AgentDetailView(GenericAPIView):
    serializer_class = s.AgentSerializer

    @extend_schema(summary="One agent", parameters=[ID], responses=s.AgentSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.agent_json(get_agent(request, pk, usage=True)))

    @extend_schema(summary="Change an agent", parameters=[ID], request=s.AgentPatchSerializer,
                   responses=s.AgentSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        data = valid(s.AgentPatchSerializer, request)
        actor, label = actor_of(request)
        services.agent_update(agent=agent, actor=actor, actor_label=label, **data)
        return Response(fresh(request, agent))

    @extend_schema(summary="Delete an agent and its sub-agents with their spans and usage (events and tasks stay)", parameters=[ID],
                   responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        actor, label = actor_of(request)
        services.agent_delete(agent=agent, actor=actor, actor_label=label)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ArchiveView(GenericAPIView):
    """Archive a finished agent (with its sub-agents), or bring it back: the same service as the
    agent page's buttons. Archiving a running agent is a 400."""

    serializer_class = s.AgentSerializer
    archive = True

    def get_queryset(self) -> QuerySet[Agent]:
        return agents_qs(self.request)

    def post(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        actor, label = actor_of(request)
        services.agent_archive(agent=agent, archive=self.archive, actor=actor, actor_label=label,
                               request=request._request)
        return Response(fresh(request, agent))


class AgentArchiveView(ArchiveView):
    archive = True

    @extend_schema(summary="Archive a stopped or offline agent and its sub-agents (history stays)",
                   parameters=[ID], request=None, responses=s.AgentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


class AgentUnarchiveView(ArchiveView):
    archive = False

    @extend_schema(summary="Bring an archived agent back into the lists", parameters=[ID],
                   request=None, responses=s.AgentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


class HeartbeatView(GenericAPIView):
    serializer_class = s.HeartbeatSerializer
    # The hottest endpoint: only the per-key limit (an IP limit adds cache round trips and
    # nothing for a request that already proved a valid key).
    throttle_classes = [WriteKeyThrottle]

    @extend_schema(summary="Heartbeat; returns the commands not acked yet", parameters=[ID],
                   request=s.HeartbeatSerializer, responses=s.HeartbeatOutSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = s.heartbeat_input(request.data)
        project = key_project(request)
        if project is not None:
            # One statement records the heartbeat and reads the agent back; anything more
            # (a status change, waiting commands, a return from offline) takes the locked path.
            agent = services.agent_touch(project_id=project.pk, agent_id=pk)
            if agent is None:
                raise Http404
            if services.heartbeat_is_plain(agent, data.get("status"), data["message"],
                                           data.get("progress")):
                return Response({"agent": s.agent_json(agent), "commands": []})
        else:
            agent = get_agent(request, pk)
        _, label = actor_of(request)
        commands = services.agent_heartbeat(agent=agent, actor_label=label, **data)
        return Response({"agent": s.agent_json(agent),
                         "commands": [s.command_json(c) for c in commands]})


class CommandAckView(GenericAPIView):
    serializer_class = s.AckSerializer

    @extend_schema(summary="Acknowledge a command", parameters=[ID], request=s.AckSerializer,
                   responses=s.CommandSerializer)
    def post(self, request: Request, pk: int, command_id: int) -> Response:
        agent = get_agent(request, pk)
        command = get_object_or_404(AgentCommand, pk=command_id, agent=agent)
        data = valid(s.AckSerializer, request)
        _, label = actor_of(request)
        command = services.command_ack(command=command, result=data["result"], actor_label=label)
        return Response(s.command_json(command))


class ActionView(GenericAPIView):
    serializer_class = s.ActionSerializer

    @extend_schema(summary="Sleep, wake, stop, unblock or restart an agent", parameters=[ID],
                   request=s.ActionSerializer, responses={201: s.ActionOutSerializer})
    def post(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        data = valid(s.ActionSerializer, request)
        actor, label = actor_of(request)
        command = services.agent_action(agent=agent, actor=actor, actor_label=label, **data)
        return Response({"command": s.command_json(command), "agent": fresh(request, agent)},
                        status=201)


def _assign(request: Request, pk: int) -> Response:
    agent = get_agent(request, pk)
    data = valid(s.AssignSerializer, request)
    actor, label = actor_of(request)
    task = services.task_assign(agent=agent, actor=actor, actor_label=label, **data)
    return Response(s.TaskSerializer(task).data, status=201)


class AssignView(GenericAPIView):
    serializer_class = s.AssignSerializer

    @extend_schema(summary="Assign a task", parameters=[ID], request=s.AssignSerializer,
                   responses={201: s.TaskSerializer})
    def post(self, request: Request, pk: int) -> Response:
        return _assign(request, pk)


class BlockView(GenericAPIView):
    serializer_class = s.BlockSerializer

    @extend_schema(summary="Report the agent blocked", parameters=[ID], request=s.BlockSerializer,
                   responses=s.AgentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        data = valid(s.BlockSerializer, request)
        actor, label = actor_of(request)
        services.agent_block(agent=agent, reason=data["reason"], actor=actor, actor_label=label)
        return Response(fresh(request, agent))


class UnblockView(GenericAPIView):
    serializer_class = s.AgentSerializer

    @extend_schema(summary="Unblock: back to the state before the block", parameters=[ID],
                   request=None, responses=s.AgentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        actor, label = actor_of(request)
        services.agent_unblock(agent=agent, actor=actor, actor_label=label)
        return Response(fresh(request, agent))


class CompleteView(GenericAPIView):
    serializer_class = s.CompleteSerializer

    @extend_schema(summary="Complete the current (or given) task; the next one is handed out",
                   parameters=[ID], request=s.CompleteSerializer, responses=s.TaskSerializer)
    def post(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        data = valid(s.CompleteSerializer, request)
        task_id = data.get("task") or agent.current_task_id
        if not task_id:
            raise ValidationError({"task": ["The agent has no current task; give a task id."]})
        task = AgentTask.objects.filter(pk=task_id, agent=agent).first()
        if task is None:
            raise ValidationError({"task": ["No such task for this agent."]})
        actor, label = actor_of(request)
        task = services.task_complete(task=task, result=data["result"], actor=actor,
                                      actor_label=label)
        return Response(s.TaskSerializer(task).data)


class ErrorView(GenericAPIView):
    serializer_class = s.ErrorSerializer

    @extend_schema(summary="Report an error (3 in 10 min block, 5 put the agent to sleep)",
                   parameters=[ID], request=s.ErrorSerializer, responses={201: s.ErrorOutSerializer})
    def post(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        data = valid(s.ErrorSerializer, request)
        _, label = actor_of(request)
        event = services.agent_error(agent=agent, message=data["message"], data=data["data"],
                                     actor_label=label)
        return Response({"event_id": event.pk, "agent": fresh(request, agent)}, status=201)


# --- tasks ----------------------------------------------------------------------------------
class TaskListView(GenericAPIView):
    serializer_class = s.TaskSerializer

    @extend_schema(summary="The agent's tasks", operation_id="agents_tasks_list", parameters=[
        ID, OpenApiParameter("status", str, description="One status or a comma-separated list")],
        responses=s.TaskSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        qs = AgentTask.objects.filter(agent=agent).order_by("-id")
        if request.query_params.get("status"):
            qs = qs.filter(status__in=request.query_params["status"].split(","))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(s.TaskSerializer(page, many=True).data)

    @extend_schema(summary="Create (assign) a task", parameters=[ID], request=s.AssignSerializer,
                   responses={201: s.TaskSerializer})
    def post(self, request: Request, pk: int) -> Response:
        return _assign(request, pk)


class TaskDetailView(GenericAPIView):
    serializer_class = s.TaskSerializer

    def _task(self, request: Request, pk: int, task_id: int) -> AgentTask:
        agent = get_agent(request, pk)
        return get_object_or_404(AgentTask, pk=task_id, agent=agent)

    @extend_schema(summary="One task", parameters=[ID], responses=s.TaskSerializer)
    def get(self, request: Request, pk: int, task_id: int) -> Response:
        return Response(s.TaskSerializer(self._task(request, pk, task_id)).data)

    @extend_schema(summary="Change a task; status completed/failed/cancelled finishes it",
                   parameters=[ID], request=s.TaskPatchSerializer, responses=s.TaskSerializer)
    def patch(self, request: Request, pk: int, task_id: int) -> Response:
        task = self._task(request, pk, task_id)
        data = valid(s.TaskPatchSerializer, request)
        actor, label = actor_of(request)
        task = services.task_update(task=task, actor=actor, actor_label=label, **data)
        return Response(s.TaskSerializer(task).data)


# --- workflows ------------------------------------------------------------------------------
def _workflow_json(workflow: Workflow) -> dict[str, Any]:
    workflow = Workflow.objects.prefetch_related("steps").get(pk=workflow.pk)
    return s.WorkflowSerializer(workflow).data


class WorkflowView(GenericAPIView):
    serializer_class = s.WorkflowInSerializer

    @extend_schema(summary="The agent's newest workflow", parameters=[ID],
                   responses=s.WorkflowSerializer)
    def get(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        workflow = get_object_or_404(Workflow.objects.filter(agent=agent).order_by("-id")[:1])
        return Response(_workflow_json(workflow))

    @extend_schema(summary="Start a workflow: steps fed to the agent one at a time",
                   parameters=[ID], request=s.WorkflowInSerializer,
                   responses={201: s.WorkflowSerializer})
    def post(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        data = valid(s.WorkflowInSerializer, request)
        actor, label = actor_of(request)
        workflow = workflows.workflow_start(agent=agent, steps=data["steps"], name=data["name"],
                                            actor=actor, actor_label=label)
        return Response(_workflow_json(workflow), status=201)


class WorkflowSignalView(GenericAPIView):
    serializer_class = s.SignalSerializer

    @extend_schema(summary="Pause, resume, cancel or approve the active workflow",
                   parameters=[ID], request=s.SignalSerializer, responses=s.WorkflowSerializer)
    def post(self, request: Request, pk: int) -> Response:
        agent = get_agent(request, pk)
        data = valid(s.SignalSerializer, request)
        actor, label = actor_of(request)
        workflow = workflows.workflow_signal(agent=agent, signal=data["signal"], actor=actor,
                                             actor_label=label)
        return Response(_workflow_json(workflow))


# --- events and spans -----------------------------------------------------------------------
FILTERS = [OpenApiParameter("agent", int), OpenApiParameter("task", int),
           OpenApiParameter("kind", str, description="Exact kind, or a prefix like hook.*")]


def _filter_common(request: Request, qs: QuerySet, kind_field: str) -> QuerySet:
    params = request.query_params
    for name in ("agent", "task"):
        value = id_param(request, name)
        if value is not None:
            qs = qs.filter(**{f"{name}_id": value})
    kind = params.get("kind")
    if kind:
        qs = (qs.filter(**{f"{kind_field}__startswith": kind[:-1]}) if kind.endswith("*")
              else qs.filter(**{kind_field: kind}))
    return qs


class EventsView(GenericAPIView):
    serializer_class = s.EventSerializer
    per_item_text_checks = True  # one bad event is an error result, the batch goes on
    # The hook path: a request that proved a valid key counts against that key only (the
    # per-IP limit would add a second Redis round trip and nothing for a known key).
    throttle_classes = [WriteKeyThrottle]

    @extend_schema(summary="Read the event log", parameters=FILTERS,
                   responses=s.EventSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = _filter_common(request, in_scope(request, AgentEvent.objects.all()), "kind")
        page = self.paginate_queryset(qs.order_by("-id"))
        return self.get_paginated_response(s.EventSerializer(page, many=True).data)

    @extend_schema(summary="Ingest a batch of up to 1,000 events (idempotency keys honoured)",
                   request=s.EventsBatchSerializer, responses=s.EventsBatchOutSerializer)
    def post(self, request: Request) -> Response:
        events = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(events, list) or not events:
            raise ValidationError({"events": ["A non-empty list of events is required."]})
        if len(events) > ingest.MAX_BATCH:
            raise ValidationError({"events": [f"At most {ingest.MAX_BATCH} events per batch."]})
        deliver = request.data.get("commands", True)
        if not isinstance(deliver, bool):
            raise ValidationError({"commands": ["true or false."]})
        project = write_project(request)
        _, label = actor_of(request)
        return Response(ingest.events_ingest(project=project, events=events, actor_label=label,
                                             deliver_commands=deliver))


class SpansView(GenericAPIView):
    serializer_class = s.SpanSerializer
    # The hook path: a request that proved a valid key counts against that key only (the
    # per-IP limit would add a second Redis round trip and nothing for a known key).
    throttle_classes = [WriteKeyThrottle]

    @extend_schema(summary="Read tool spans (traces)",
                   parameters=[*FILTERS[:2], OpenApiParameter("kind", str, description="Tool name"),
                               OpenApiParameter("outcome", str)],
                   responses=s.SpanSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = _filter_common(request, in_scope(request, ToolSpan.objects.all()), "tool_name")
        if request.query_params.get("outcome"):
            qs = qs.filter(outcome=request.query_params["outcome"])
        page = self.paginate_queryset(qs.order_by("-id"))
        return self.get_paginated_response(s.SpanSerializer(page, many=True).data)

    @extend_schema(summary="Start or finish a span, in any order", request=s.SpanInSerializer,
                   responses={200: s.SpanSerializer})
    def post(self, request: Request) -> Response:
        data = valid(s.SpanInSerializer, request)
        agent = get_agent(request, data.pop("agent"))
        _, label = actor_of(request)
        span, _ = services.span_record(agent=agent, actor_label=label, **data)
        return Response(s.SpanSerializer(span).data)


# --- remote approval ----------------------------------------------------------------------
def _approval(request: Request, approval_id: int) -> ApprovalRequest:
    return get_object_or_404(in_scope(request, ApprovalRequest.objects.all()), pk=approval_id)


class ApprovalListView(GenericAPIView):
    serializer_class = s.ApprovalInSerializer
    throttle_classes = [WriteKeyThrottle]

    @extend_schema(summary="File a permission prompt for remote approval",
                   request=s.ApprovalInSerializer, responses={201: s.ApprovalOutSerializer})
    def post(self, request: Request) -> Response:
        data = valid(s.ApprovalInSerializer, request)
        project = write_project(request)
        agent = get_object_or_404(Agent, project=project, external_id=data["agent_external_id"])
        _, label = actor_of(request)
        approval, created = approvals.approval_request(
            agent=agent, key=data["key"], tool_name=data["tool_name"], summary=data["summary"],
            input=data["input"], wait_seconds=data["wait_seconds"], actor_label=label)
        return Response(s.approval_json(approval),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ApprovalDetailView(GenericAPIView):
    serializer_class = s.ApprovalOutSerializer

    @extend_schema(summary="A permission prompt's decision (polled by the agent's hook)",
                   responses=s.ApprovalOutSerializer)
    def get(self, request: Request, approval_id: int) -> Response:
        return Response(s.approval_json(_approval(request, approval_id)))


class ApprovalExpireView(GenericAPIView):
    serializer_class = s.ApprovalOutSerializer

    @extend_schema(summary="The hook stopped waiting: the local prompt decides", request=None,
                   responses=s.ApprovalOutSerializer)
    def post(self, request: Request, approval_id: int) -> Response:
        write_project(request)
        _, label = actor_of(request)
        approval = approvals.approval_expire(approval=_approval(request, approval_id),
                                             actor_label=label)
        return Response(s.approval_json(approval))
