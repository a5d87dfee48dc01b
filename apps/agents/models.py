from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.agents.kinds import kind_label, kind_monogram, validate_kind
from apps.core.models import VersionedModel
from apps.projects.models import Project


class AgentKind(models.TextChoices):
    """The kinds Switchboard knows (a label and an icon each). The field itself is an open
    slug (apps.agents.kinds): an agent of a kind not listed here is stored as it says."""

    CLAUDE_CODE = "claude-code", "Claude Code"
    OPENCODE = "opencode", "OpenCode"
    CODEX = "codex", "Codex"
    GEMINI_CLI = "gemini-cli", "Gemini CLI"
    CURSOR = "cursor", "Cursor"
    COPILOT = "copilot", "GitHub Copilot"
    AIDER = "aider", "Aider"
    AMP = "amp", "Amp"
    GOOSE = "goose", "Goose"
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
# Agents that may be archived or deleted: nothing of theirs is running.
FINISHED_STATUSES = (AgentStatus.STOPPED, AgentStatus.OFFLINE)


class Agent(VersionedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=40, default=AgentKind.CUSTOM, validators=[validate_kind],
                            help_text="A slug: a known kind (claude-code, codex, ...) or your own.")
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
    # Not indexed: the sweeps read COALESCE(last_heartbeat_at, ...), which no index serves, and
    # an index here would keep PostgreSQL from HOT-updating the row on every heartbeat.
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_message = models.CharField(max_length=500, blank=True)
    # Unacked commands, kept on the row so a plain heartbeat knows without another query.
    pending_commands = models.PositiveIntegerField(default=0)
    # Times of the recent errors (ISO strings, newest last): the error-streak rules read the
    # locked row instead of counting events.
    error_times = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # How a team groups its fleet ("backend", "nightly", "ci-runner-3"): sent by the client
    # (SWITCHBOARD_AGENT_LABEL) or set by an admin on the agent page.
    label = models.CharField(max_length=60, blank=True, db_index=True)
    # Who answers for the agent: the person who issued the key it registered with, unless an
    # admin says otherwise.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="owned_agents")
    archived_at = models.DateTimeField(
        null=True, blank=True,
        help_text="A finished agent put out of the lists; it comes back when it reports again.",
    )
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

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)

    @property
    def kind_monogram(self) -> str:
        return kind_monogram(self.kind)


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
    assigned_by = models.CharField(max_length=150, blank=True,
                                   help_text="Who gave the task: a person, a rule, an API key.")
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
    """Append-only log of everything an agent reported or the engine decided.

    Every index is paid on every event: no single-column index where a composite one starts
    with the column (project, agent), and partial ones for the columns most events leave empty
    (task, actor), so an event writes 6 index entries instead of 11."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events",
                                db_index=False)
    # SET_NULL: deleting a finished agent keeps its history in the event log.
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="events",
        db_index=False,
    )
    task = models.ForeignKey(
        AgentTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="events",
        db_index=False,
    )
    kind = models.CharField(max_length=64, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
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
            models.Index(fields=["task"], condition=Q(task__isnull=False), name="event_task"),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="event_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class SpanOutcome(models.TextChoices):
    PENDING = "pending", "Running"
    OK = "ok", "OK"
    ERROR = "error", "Error"
    DENIED = "denied", "Denied"  # refused at its permission prompt, never ran
    CANCELLED = "cancelled", "Cancelled"  # interrupted, or abandoned when the turn ended


class ToolSpan(models.Model):
    """One tool call of an agent: a trace span."""

    MAX_PAYLOAD = 16 * 1024

    # Indexed by the composite indexes below (as AgentEvent: fewer index entries per write).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="spans",
                                db_index=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="spans",
                              db_index=False)
    task = models.ForeignKey(
        AgentTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="spans",
        db_index=False,
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
        indexes = [
            models.Index(fields=["agent", "turn"]),
            models.Index(fields=["project", "-id"]),
            models.Index(fields=["task"], condition=Q(task__isnull=False), name="span_task"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.span_id})"


class CommandAction(models.TextChoices):
    SLEEP = "sleep", "Sleep"
    WAKE = "wake", "Wake"
    STOP = "stop", "Stop"
    UNBLOCK = "unblock", "Unblock"
    RESTART = "restart", "Restart"
    TASK = "task", "New task"


class CommandStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    DELIVERED = "delivered", "Delivered"
    ACKED = "acked", "Acknowledged"


class AgentCommand(VersionedModel):
    """An instruction for an agent. Handed out with every heartbeat until the agent acks it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="commands")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=16, choices=CommandAction.choices)
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=CommandStatus.choices, default=CommandStatus.PENDING
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    delivery_count = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["agent", "status"])]

    def __str__(self) -> str:
        return f"{self.action} → {self.agent_id} ({self.status})"


class LifecyclePolicy(models.Model):
    """Per-project thresholds of the lifecycle engine; a project without a row uses defaults."""

    DEFAULTS = {
        "idle_after_seconds": 300,
        "offline_after_seconds": 900,
        "error_window_seconds": 600,
        "block_after_errors": 3,
        "sleep_after_errors": 5,
    }

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="lifecycle_policy"
    )
    idle_after_seconds = models.PositiveIntegerField(
        default=300, help_text="A working agent silent this long is blocked with reason idle."
    )
    offline_after_seconds = models.PositiveIntegerField(
        default=900, help_text="An agent silent this long is offline."
    )
    error_window_seconds = models.PositiveIntegerField(
        default=600, help_text="The window the error thresholds count in."
    )
    block_after_errors = models.PositiveSmallIntegerField(
        default=3, help_text="Errors in the window that block the agent."
    )
    sleep_after_errors = models.PositiveSmallIntegerField(
        default=5, help_text="Errors in the window that put the agent to sleep."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "lifecycle policies"

    def __str__(self) -> str:
        return f"Lifecycle policy of {self.project}"

    @classmethod
    def for_project(cls, project: Project | int) -> LifecyclePolicy:
        project_id = project if isinstance(project, int) else project.pk
        policy = cls.objects.filter(project_id=project_id).first()
        return policy or cls(project_id=project_id, **cls.DEFAULTS)


def validate_timezone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.core.exceptions import ValidationError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known time zone.") from None


class SleepSchedule(models.Model):
    """Weekly sleep windows in a named time zone, for a whole project or one agent."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sleep_schedules")
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="sleep_schedules",
        help_text="Empty: every agent of the project without a schedule of its own.",
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=Q(agent__isnull=True),
                name="sleep_schedule_one_per_project",
            ),
            models.UniqueConstraint(fields=["agent"], name="sleep_schedule_one_per_agent"),
        ]

    def __str__(self) -> str:
        return f"Sleep schedule of {self.agent or self.project} ({self.timezone})"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class SleepWindow(models.Model):
    """From `start` on `weekday` until `end`; an end at or before the start is the next day."""

    schedule = models.ForeignKey(SleepSchedule, on_delete=models.CASCADE, related_name="windows")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["weekday", "start"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


class WorkflowStatus(models.TextChoices):
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for approval"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Workflow(VersionedModel):
    """Ordered steps fed to one agent one at a time; its state lives here, not in memory."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workflows")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=WorkflowStatus.choices, default=WorkflowStatus.RUNNING
    )
    position = models.PositiveIntegerField(default=0, help_text="Index of the current step.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent"], condition=Q(status__in=["running", "waiting", "paused"]),
                name="workflow_one_active_per_agent",
            )
        ]

    def __str__(self) -> str:
        return self.name or f"Workflow #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in (WorkflowStatus.RUNNING, WorkflowStatus.WAITING, WorkflowStatus.PAUSED)


class StepKind(models.TextChoices):
    TASK = "task", "Task"
    APPROVAL = "approval", "Human approval"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class WorkflowStep(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=StepKind.choices, default=StepKind.TASK)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NONE)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    task = models.OneToOneField(
        AgentTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflow_step"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["workflow", "position"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "position"], name="workflow_step_position")
        ]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.title}"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    ALLOWED = "allowed", "Allowed"
    DENIED = "denied", "Denied"
    EXPIRED = "expired", "Answered locally"  # nobody decided in time: the terminal's prompt did


class ApprovalRequest(VersionedModel):
    """A permission prompt of an agent (Claude Code PermissionRequest, OpenCode
    permission.asked) that a person may answer from the control room while the agent's hook
    waits for the decision."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="approvals")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="approvals")
    key = models.CharField(max_length=200, help_text="The client's id for this prompt.")
    tool_name = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    input = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=ApprovalStatus.choices,
                              default=ApprovalStatus.PENDING)
    message = models.CharField(max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["agent", "key"], name="approval_agent_key")]
        indexes = [models.Index(fields=["agent", "status"])]

    def __str__(self) -> str:
        return f"{self.tool_name} for {self.agent_id} ({self.status})"

    def is_open(self, now: datetime | None = None) -> bool:
        return self.status == ApprovalStatus.PENDING and self.expires_at > (now or timezone.now())
