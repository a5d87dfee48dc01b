"""Local copies of Linear data, the connection, the sync and webhook logs, routing rules.

Linear rows are keyed by Linear's own id (`linear_id`), so every upsert is idempotent.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.core.models import VersionedModel


class LinearConnection(models.Model):
    """The one connection to a Linear workspace (a singleton row, pk=1). Secrets are stored
    Fernet-encrypted (apps.core.crypto) and never shown again."""

    api_key_encrypted = models.TextField(blank=True)
    api_key_hint = models.CharField(max_length=16, blank=True, help_text="Last characters only.")
    api_url = models.URLField(
        blank=True, help_text="Overrides LINEAR_API_URL (a self-hosted proxy or a test server)."
    )
    webhook_secret_encrypted = models.TextField(blank=True)
    webhook_id = models.CharField(max_length=64, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    organization_name = models.CharField(max_length=200, blank=True)
    viewer_name = models.CharField(max_length=200, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sync_watermark = models.DateTimeField(
        null=True, blank=True, help_text="Largest updatedAt seen: incremental syncs start here."
    )
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Linear connection"

    def __str__(self) -> str:
        return self.organization_name or "Linear connection"

    @classmethod
    def get(cls) -> LinearConnection:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class LinearTeam(models.Model):
    linear_id = models.CharField(max_length=64, unique=True)
    key = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    color = models.CharField(max_length=20, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    updated_at_linear = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


# Linear's board order: state types first, then position inside a type.
STATE_TYPE_ORDER = ["triage", "backlog", "unstarted", "started", "completed", "canceled"]


class LinearWorkflowState(models.Model):
    linear_id = models.CharField(max_length=64, unique=True)
    team = models.ForeignKey(LinearTeam, on_delete=models.CASCADE, related_name="states")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=20)
    color = models.CharField(max_length=20, blank=True)
    position = models.FloatField(default=0)
    type_rank = models.PositiveSmallIntegerField(default=9)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team_id", "type_rank", "position", "name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.type_rank = state_type_rank(self.type)
        super().save(*args, **kwargs)


def state_type_rank(kind: str) -> int:
    return STATE_TYPE_ORDER.index(kind) if kind in STATE_TYPE_ORDER else len(STATE_TYPE_ORDER)


class LinearProject(models.Model):
    linear_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    url = models.URLField(max_length=500, blank=True)
    state = models.CharField(max_length=40, blank=True)
    teams = models.ManyToManyField(LinearTeam, blank=True, related_name="projects")
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LinearCycle(models.Model):
    linear_id = models.CharField(max_length=64, unique=True)
    team = models.ForeignKey(LinearTeam, on_delete=models.CASCADE, related_name="cycles")
    number = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team_id", "-number"]

    def __str__(self) -> str:
        return self.name or f"Cycle {self.number}"


class LinearLabel(models.Model):
    linear_id = models.CharField(max_length=64, unique=True)
    team = models.ForeignKey(
        LinearTeam, null=True, blank=True, on_delete=models.CASCADE, related_name="labels"
    )
    name = models.CharField(max_length=200)
    color = models.CharField(max_length=20, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LinearUser(models.Model):
    linear_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name

    @property
    def initials(self) -> str:
        parts = (self.name or "?").split()
        return "".join(p[0] for p in parts[:2]).upper()


class LinearIssue(VersionedModel):
    linear_id = models.CharField(max_length=64, unique=True)
    identifier = models.CharField(max_length=32, db_index=True)
    number = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    team = models.ForeignKey(LinearTeam, on_delete=models.CASCADE, related_name="issues")
    state = models.ForeignKey(
        LinearWorkflowState, null=True, blank=True, on_delete=models.SET_NULL, related_name="issues"
    )
    priority = models.PositiveSmallIntegerField(default=0)
    estimate = models.FloatField(null=True, blank=True)
    sort_order = models.FloatField(default=0)
    assignee = models.ForeignKey(
        LinearUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="issues"
    )
    project = models.ForeignKey(
        LinearProject, null=True, blank=True, on_delete=models.SET_NULL, related_name="issues"
    )
    cycle = models.ForeignKey(
        LinearCycle, null=True, blank=True, on_delete=models.SET_NULL, related_name="issues"
    )
    labels = models.ManyToManyField(LinearLabel, blank=True, related_name="issues")
    url = models.URLField(max_length=500, blank=True)
    created_at_linear = models.DateTimeField(null=True, blank=True)
    updated_at_linear = models.DateTimeField(null=True, blank=True, db_index=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Deleted or trashed in Linear."
    )
    last_seen_run = models.ForeignKey(
        "SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A drag on the board moves the card at once; Linear confirms or refuses later.
    pending_from_state = models.ForeignKey(
        LinearWorkflowState, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    move_error = models.CharField(max_length=500, blank=True)
    # Routing: an issue that matched a rule but found no free agent waits here.
    route_rule = models.ForeignKey(
        "RoutingRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="issues"
    )
    route_waiting_since = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-updated_at_linear", "-id"]
        indexes = [
            models.Index(fields=["team", "state"]),
            models.Index(fields=["state", "sort_order"]),
        ]

    def __str__(self) -> str:
        return f"{self.identifier} {self.title}"

    @property
    def is_visible(self) -> bool:
        return self.archived_at is None and self.deleted_at is None


class LinearComment(models.Model):
    linear_id = models.CharField(max_length=64, unique=True)
    issue = models.ForeignKey(LinearIssue, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField(blank=True)
    user_name = models.CharField(max_length=200, blank=True)
    created_at_linear = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at_linear", "id"]

    def __str__(self) -> str:
        return f"Comment on {self.issue_id}: {self.body[:40]}"


class ProjectMapping(models.Model):
    """A Switchboard project shows and routes the issues of one Linear team (optionally only
    those of one Linear project)."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="linear_mapping"
    )
    team = models.ForeignKey(LinearTeam, on_delete=models.CASCADE, related_name="mappings")
    linear_project = models.ForeignKey(
        LinearProject, null=True, blank=True, on_delete=models.SET_NULL, related_name="mappings"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.project} ↔ {self.team}"

    def covers(self, issue: LinearIssue) -> bool:
        if issue.team_id != self.team_id:
            return False
        return self.linear_project_id is None or issue.project_id == self.linear_project_id


class SyncKind(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "Finished"
    FAILED = "failed", "Failed"
    WAITING = "waiting", "Waiting for rate limit"


class SyncRun(models.Model):
    kind = models.CharField(max_length=12, choices=SyncKind.choices)
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Where a full sync resumes: {"stage": "issues", "after": "<endCursor>"}.
    cursor = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    requests = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    log = models.JSONField(default=list, blank=True, help_text="Notes: rate limits, retries.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} sync {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    delivery_id = models.CharField(max_length=100, unique=True)
    resource_type = models.CharField(max_length=60, blank=True)
    action = models.CharField(max_length=30, blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED
    )
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.resource_type} {self.action} ({self.delivery_id})"


class RoutingRule(models.Model):
    """Empty match fields match anything. Targets: one agent (a named agent) or several
    (a pool); each target has a capacity of open tasks."""

    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=100, help_text="Lower rules are tried first.")
    team = models.ForeignKey(
        LinearTeam, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    linear_project = models.ForeignKey(
        LinearProject, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    label = models.ForeignKey(
        LinearLabel, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    priority = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Match only this Linear priority (1 urgent … 4 low)."
    )
    complete_state = models.ForeignKey(
        LinearWorkflowState,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="When the agent completes the task, move the issue here.",
    )
    comment_on_complete = models.BooleanField(
        default=True, help_text="Post the agent's result as a comment on the issue."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name

    def matches(self, issue: LinearIssue, label_ids: set[int]) -> bool:
        if self.team_id and issue.team_id != self.team_id:
            return False
        if self.linear_project_id and issue.project_id != self.linear_project_id:
            return False
        if self.label_id and self.label_id not in label_ids:
            return False
        return not (self.priority is not None and issue.priority != self.priority)


class RoutingTarget(models.Model):
    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="targets")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="+")
    capacity = models.PositiveSmallIntegerField(default=1, help_text="Open tasks at most.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "agent"], name="routing_target_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent} ×{self.capacity}"

from apps.linear.models_agent import (  # noqa: E402,F401  (models of the Linear agent)
    ActivityKind,
    LinearAgentActivity,
    LinearAgentSession,
    LinearAppInstall,
    OutboxStatus,
    SessionState,
)
