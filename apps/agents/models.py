from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.models import VersionedModel
from apps.projects.models import Project


class AgentKind(models.TextChoices):
    CLAUDE_CODE = "claude-code", "Claude Code"
    OPENCODE = "opencode", "OpenCode"
    CODEX = "codex", "Codex"
    CURSOR = "cursor", "Cursor"
    CUSTOM = "custom", "Custom"


class AgentStatus(models.TextChoices):
    IDLE = "idle", "Idle"
    WORKING = "working", "Working"
    BLOCKED = "blocked", "Blocked"
    SLEEPING = "sleeping", "Sleeping"
    ERROR = "error", "Error"
    STOPPED = "stopped", "Stopped"
    OFFLINE = "offline", "Offline"


ATTENTION_STATUSES = (AgentStatus.BLOCKED, AgentStatus.ERROR, AgentStatus.OFFLINE)


class Agent(VersionedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=20, choices=AgentKind.choices, default=AgentKind.CUSTOM)
    model = models.CharField(max_length=150, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The client's own session id."
    )
    status = models.CharField(
        max_length=16, choices=AgentStatus.choices, default=AgentStatus.IDLE, db_index=True
    )
    status_reason = models.CharField(max_length=300, blank=True)
    status_since = models.DateTimeField(default=timezone.now)
    previous_status = models.CharField(max_length=16, choices=AgentStatus.choices, blank=True)
    current_task = models.ForeignKey(
        "AgentTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=~Q(external_id=""),
                name="agent_unique_external_id_per_project",
            )
        ]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def needs_attention(self) -> bool:
        return self.status in ATTENTION_STATUSES


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    BLOCKED = "blocked", "Blocked"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Priority(models.IntegerChoices):
    """Linear's scale, so routed issues keep their priority: 1 is the most urgent."""

    NONE = 0, "No priority"
    URGENT = 1, "Urgent"
    HIGH = 2, "High"
    MEDIUM = 3, "Medium"
    LOW = 4, "Low"


class AgentTask(VersionedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING, db_index=True
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NONE)
    progress = models.JSONField(default=dict, blank=True)
    result = models.TextField(blank=True)
    error = models.TextField(blank=True)
    linear_issue_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["agent", "status"])]

    def __str__(self) -> str:
        return self.title


class AgentEvent(models.Model):
    """Append-only log of everything an agent reported or the engine decided."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    task = models.ForeignKey(
        AgentTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    kind = models.CharField(max_length=64, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    ts = models.DateTimeField(default=timezone.now, help_text="When it happened (client time).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_unique_idempotency_key_per_project",
            )
        ]
        indexes = [
            models.Index(fields=["project", "-id"]),
            models.Index(fields=["agent", "-id"]),
            models.Index(fields=["project", "kind", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class SpanOutcome(models.TextChoices):
    PENDING = "pending", "Running"
    OK = "ok", "OK"
    ERROR = "error", "Error"


class ToolSpan(models.Model):
    """One tool call of an agent: a trace span."""

    MAX_PAYLOAD = 16 * 1024

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="spans")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="spans")
    task = models.ForeignKey(
        AgentTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="spans"
    )
    span_id = models.CharField(max_length=200)
    turn = models.PositiveIntegerField(default=0)
    tool_name = models.CharField(max_length=200, blank=True)
    input = models.TextField(blank=True)
    input_size = models.PositiveIntegerField(default=0)
    output = models.TextField(blank=True)
    output_size = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=SpanOutcome.choices, default=SpanOutcome.PENDING
    )
    error = models.TextField(blank=True)
    tokens_input = models.PositiveIntegerField(default=0)
    tokens_output = models.PositiveIntegerField(default=0)
    tokens_cache_read = models.PositiveIntegerField(default=0)
    tokens_cache_write = models.PositiveIntegerField(default=0)
    tokens_reasoning = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["turn", "started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "span_id"], name="span_unique_per_agent")
        ]
        indexes = [models.Index(fields=["agent", "turn"]), models.Index(fields=["project", "-id"])]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.span_id})"
