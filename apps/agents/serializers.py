"""Input validation and JSON shapes of the agent API (docs/CONTRACTS.md, "Agent REST API").

Output of the hot endpoints is built by plain functions (agent_json) for speed; the output
serializers below delegate to them so the OpenAPI schema still describes every field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from apps.agents.approvals import MAX_WAIT_SECONDS
from apps.agents.kinds import ALIASES, validate_kind
from apps.agents.models import (
    Agent,
    AgentCommand,
    AgentEvent,
    AgentKind,
    AgentStatus,
    AgentTask,
    ApprovalRequest,
    ApprovalStatus,
    CommandAction,
    Priority,
    SpanOutcome,
    StepKind,
    TaskStatus,
    ToolSpan,
    Workflow,
    WorkflowStep,
)
from apps.core.times import ReportedTimeField
from apps.telemetry.selectors import agent_usage

REPORTABLE_STATUSES = [s for s in AgentStatus.values if s != AgentStatus.OFFLINE]
FINISH_STATUSES = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED]
RESULT_STATUSES = ["created", "duplicate", "error"]
REPORTED_OUTCOMES = [SpanOutcome.OK, SpanOutcome.ERROR, SpanOutcome.DENIED, SpanOutcome.CANCELLED]


def task_brief(task: AgentTask | None) -> dict[str, Any] | None:
    if task is None:
        return None
    return {"id": task.pk, "title": task.title, "status": task.status, "priority": task.priority,
            "progress": task.progress, "linear_issue_id": task.linear_issue_id}


def agent_json(agent: Agent, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    return {
        "id": agent.pk,
        "project": agent.project_id,
        "name": agent.name,
        "kind": agent.kind,
        "model": agent.model,
        "external_id": agent.external_id,
        "parent": agent.parent_id,
        "status": agent.status,
        "status_reason": agent.status_reason,
        "status_since": agent.status_since,
        "previous_status": agent.previous_status,
        "current_task": task_brief(agent.current_task) if agent.current_task_id else None,
        "last_heartbeat_at": agent.last_heartbeat_at,
        "last_message": agent.last_message,
        "pending_commands": agent.pending_commands,
        "sub_agent_count": getattr(agent, "sub_agent_count", None) or 0,
        "age_seconds": max(int((now - agent.created_at).total_seconds()), 0),
        "metadata": agent.metadata,
        "label": agent.label,
        "owner": agent.owner_id,
        "version": agent.version,
        "created_at": agent.created_at,
        "archived_at": agent.archived_at,
        "usage": usage.as_json() if (usage := agent_usage(agent)) is not None else None,
    }


def command_json(command: AgentCommand) -> dict[str, Any]:
    return {"id": command.pk, "action": command.action, "data": command.data,
            "created_at": command.created_at, "status": command.status,
            "delivery_count": command.delivery_count}


class TaskBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    priority = serializers.IntegerField()
    progress = serializers.JSONField()
    linear_issue_id = serializers.CharField()


class UsageSerializer(serializers.Serializer):
    """An agent's token and cost totals (its own calls, not its sub-agents')."""

    tokens_input = serializers.IntegerField(help_text="Fresh (uncached) prompt tokens.")
    tokens_output = serializers.IntegerField()
    tokens_cache_read = serializers.IntegerField()
    tokens_cache_write = serializers.IntegerField()
    tokens_reasoning = serializers.IntegerField()
    cache_hit_rate = serializers.FloatField(
        allow_null=True, help_text="Percent: cache read / (input + cache read + cache write).")
    cost_usd = serializers.DecimalField(max_digits=20, decimal_places=8)
    calls = serializers.IntegerField(help_text="Model calls recorded (distinct usage keys).")
    calls_unknown_price = serializers.IntegerField(
        help_text="Calls whose model has no known price; they count as 0 in cost_usd.")


class KindField(serializers.CharField):
    """An agent kind: a known slug, an alias of one ("claude" → claude-code) or any other
    lowercase slug."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("help_text", "claude-code, opencode, codex, gemini-cli, cursor, "
                          "copilot, aider, amp, goose, custom, or your own slug.")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip().lower()
        value = ALIASES.get(value, value)
        try:
            validate_kind(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0]) from None
        return value


class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="A kind slug: claude-code, opencode, codex, "
                                 "gemini-cli, cursor, copilot, aider, amp, goose, custom, or "
                                 "another.")
    model = serializers.CharField()
    external_id = serializers.CharField()
    parent = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=AgentStatus.choices)
    status_reason = serializers.CharField()
    status_since = serializers.DateTimeField()
    previous_status = serializers.CharField()
    current_task = TaskBriefSerializer(allow_null=True)
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)
    last_message = serializers.CharField()
    pending_commands = serializers.IntegerField()
    sub_agent_count = serializers.IntegerField()
    age_seconds = serializers.IntegerField()
    metadata = serializers.JSONField()
    label = serializers.CharField(help_text="The team's label for the agent (may be empty).")
    owner = serializers.IntegerField(
        allow_null=True, help_text="The user who answers for the agent: by default whoever "
        "issued the key it registered with.")
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    archived_at = serializers.DateTimeField(
        allow_null=True, help_text="Set while the agent is archived (out of the lists).")
    usage = UsageSerializer(
        allow_null=True, help_text="Token and cost totals in agent list and detail replies; "
        "null in heartbeat and action replies.")

    def to_representation(self, instance: Agent) -> dict[str, Any]:
        return agent_json(instance)


class CommandSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=CommandAction.choices)
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()
    status = serializers.CharField()
    delivery_count = serializers.IntegerField()

    def to_representation(self, instance: AgentCommand) -> dict[str, Any]:
        return command_json(instance)


class HeartbeatOutSerializer(serializers.Serializer):
    agent = AgentSerializer()
    commands = CommandSerializer(many=True)


class _ParentMixin(serializers.Serializer):
    def _resolve_parent(self, attrs: dict[str, Any]) -> dict[str, Any]:
        project = self.context["project"]
        parent_id = attrs.pop("parent", None)
        parent_ext = attrs.pop("parent_external_id", "")
        parent = None
        if parent_id is not None:
            parent = Agent.objects.filter(project=project, pk=parent_id).first()
            if parent is None:
                raise serializers.ValidationError({"parent": ["No such agent in this project."]})
        elif parent_ext:
            parent = Agent.objects.filter(project=project, external_id=parent_ext).first()
            if parent is None:
                raise serializers.ValidationError(
                    {"parent_external_id": ["No agent with this external id in this project."]}
                )
        attrs["parent"] = parent
        return attrs


class AgentRegisterSerializer(_ParentMixin):
    name = serializers.CharField(max_length=150)
    kind = KindField(default=AgentKind.CUSTOM)
    model = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                        default="")
    parent = serializers.IntegerField(required=False, allow_null=True)
    parent_external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False, default=dict)
    label = serializers.CharField(max_length=60, required=False, allow_blank=True, default="",
                                  help_text="A label to group agents by (e.g. backend, nightly); "
                                  "kept when a re-registration sends none.")
    project = serializers.SlugField(required=False, help_text="Only with a browser session: "
                                    "the project's slug (an API key implies its project).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.pop("project", None)
        return self._resolve_parent(attrs)


class AgentPatchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150, required=False)
    label = serializers.CharField(max_length=60, required=False, allow_blank=True)
    kind = KindField(required=False)
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)
    status = serializers.ChoiceField(choices=REPORTABLE_STATUSES, required=False)
    status_reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class HeartbeatSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=REPORTABLE_STATUSES, required=False)
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    progress = serializers.JSONField(required=False, help_text="Progress of the current task.")


def heartbeat_input(data: Any) -> dict[str, Any]:
    """HeartbeatSerializer's rules by hand: the hottest endpoint should not pay for building a
    serializer per request. Raises the same per-field ValidationError."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {"message": ""}
    status = data.get("status")
    if status is not None:
        if status not in REPORTABLE_STATUSES:
            errors["status"] = [f'"{status}" is not a valid choice.']
        else:
            out["status"] = status
    message = data.get("message")
    if message is not None:
        if not isinstance(message, str):
            errors["message"] = ["Not a valid string."]
        elif len(message) > 2000:
            errors["message"] = ["Ensure this field has no more than 2000 characters."]
        else:
            out["message"] = message.strip()
    if "progress" in data:
        out["progress"] = data["progress"]
    if errors:
        raise serializers.ValidationError(errors)
    return out


class AckSerializer(serializers.Serializer):
    result = serializers.DictField(required=False, default=dict)


class ActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["sleep", "wake", "stop", "unblock", "restart"])
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ActionOutSerializer(serializers.Serializer):
    command = CommandSerializer()
    agent = AgentSerializer()


class AssignSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NONE)
    linear_issue_id = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                            default="")


class BlockSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class CompleteSerializer(serializers.Serializer):
    task = serializers.IntegerField(required=False, help_text="Defaults to the current task.")
    result = serializers.CharField(required=False, allow_blank=True, default="")


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=2000)
    data = serializers.DictField(required=False, default=dict)


class ErrorOutSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    agent = AgentSerializer()


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentTask
        fields = ["id", "agent", "title", "description", "status", "priority", "progress",
                  "result", "error", "linear_issue_id", "created_at", "started_at", "finished_at",
                  "version"]


class TaskPatchSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    progress = serializers.JSONField(required=False)
    status = serializers.ChoiceField(choices=FINISH_STATUSES, required=False)
    result = serializers.CharField(required=False, allow_blank=True)
    error = serializers.CharField(required=False, allow_blank=True)


class WorkflowStepInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StepKind.choices, default=StepKind.TASK)
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NONE)


class WorkflowInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    steps = WorkflowStepInSerializer(many=True, allow_empty=False, max_length=100)


class WorkflowStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkflowStep
        fields = ["position", "kind", "title", "description", "priority", "status", "task",
                  "finished_at"]


class WorkflowSerializer(serializers.ModelSerializer):
    steps = WorkflowStepSerializer(many=True, read_only=True)

    class Meta:
        model = Workflow
        fields = ["id", "agent", "name", "status", "position", "steps", "created_at", "version"]


class SignalSerializer(serializers.Serializer):
    signal = serializers.ChoiceField(choices=["pause", "resume", "cancel", "approve"])


class EventInSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Dotted lowercase, e.g. hook.pre_tool_use.")
    agent = serializers.IntegerField(required=False)
    agent_external_id = serializers.CharField(required=False)
    ts = ReportedTimeField(required=False)
    data = serializers.DictField(required=False)
    idempotency_key = serializers.CharField(required=False, max_length=200)


class EventsBatchSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, max_length=1000)
    project = serializers.SlugField(required=False, help_text="Only with a browser session.")
    commands = serializers.BooleanField(
        required=False, default=True,
        help_text="false: do not hand out waiting commands with the answer (a keep-alive that "
                  "cannot act on them); they stay waiting for the agent's next report.")


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RESULT_STATUSES)
    event_id = serializers.IntegerField(required=False, allow_null=True)
    error = serializers.CharField(required=False)


class EventsBatchOutSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentEvent
        fields = ["id", "kind", "agent", "task", "data", "actor_label", "ts", "created_at"]


class SpanInSerializer(serializers.Serializer):
    agent = serializers.IntegerField()
    span_id = serializers.CharField(max_length=200)
    phase = serializers.ChoiceField(choices=["start", "finish"])
    turn = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    tool_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    input = serializers.JSONField(required=False, allow_null=True)  # null: the tool took nothing
    output = serializers.JSONField(required=False, allow_null=True)  # null: it returned nothing
    # A client that cut a large payload itself (to keep its batch under 1 MB) reports the
    # original size here; the stored size is the larger of this and what arrived.
    input_size = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    output_size = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    error = serializers.CharField(required=False, allow_blank=True)
    outcome = serializers.ChoiceField(choices=REPORTED_OUTCOMES, required=False)
    started_at = ReportedTimeField(required=False)
    finished_at = ReportedTimeField(required=False)
    latency_ms = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    tokens_input = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    tokens_output = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    tokens_cache_read = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    tokens_cache_write = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    tokens_reasoning = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    task = serializers.IntegerField(required=False)


class SpanSerializer(serializers.ModelSerializer):
    class Meta:
        model = ToolSpan
        fields = ["id", "agent", "task", "span_id", "turn", "tool_name", "input", "input_size",
                  "output", "output_size", "started_at", "finished_at", "latency_ms", "outcome",
                  "error", "tokens_input", "tokens_output", "tokens_cache_read",
                  "tokens_cache_write", "tokens_reasoning"]


# --- remote approval ----------------------------------------------------------------------
def approval_json(approval: ApprovalRequest, now: datetime | None = None) -> dict[str, Any]:
    """A prompt past its wait reads as expired even before the hook says so."""
    status = approval.status
    if status == ApprovalStatus.PENDING and not approval.is_open(now):
        status = ApprovalStatus.EXPIRED
    return {"id": approval.pk, "status": status, "message": approval.message,
            "tool_name": approval.tool_name, "summary": approval.summary,
            "expires_at": approval.expires_at, "decided_at": approval.decided_at}


class ApprovalInSerializer(serializers.Serializer):
    agent_external_id = serializers.CharField(max_length=200)
    key = serializers.CharField(max_length=200)
    tool_name = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                      default="")
    summary = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    input = serializers.CharField(required=False, allow_blank=True, default="",
                                  trim_whitespace=False)
    wait_seconds = serializers.IntegerField(min_value=1, max_value=MAX_WAIT_SECONDS)


class ApprovalOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ApprovalStatus.choices)
    message = serializers.CharField()
    tool_name = serializers.CharField()
    summary = serializers.CharField()
    expires_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
