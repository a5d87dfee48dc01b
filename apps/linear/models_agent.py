"""Switchboard as a Linear agent: the app installation per workspace, the agent sessions Linear
opens when an issue is delegated to (or an @-mention names) Switchboard, and the outbox of
activities mirrored into those sessions.

The outbox is durable and ordered: an activity is a row before anything is sent, each carries
the UUID Linear stores it under (so a retry after a lost answer never posts it twice), and a
session's activities go out strictly in `seq` order, one sender at a time (a lease on the
session row).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class LinearAppInstall(models.Model):
    """Switchboard installed in one Linear workspace as an app (OAuth `actor=app`)."""

    organization_id = models.CharField(max_length=64, unique=True)
    organization_name = models.CharField(max_length=200, blank=True)
    app_user_id = models.CharField(max_length=64, blank=True,
                                   help_text="The app's own user in the workspace.")
    app_user_name = models.CharField(max_length=200, blank=True)
    access_token_encrypted = models.TextField()
    refresh_token_encrypted = models.TextField(blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=300, blank=True)
    api_url = models.URLField(blank=True, help_text="Overrides LINEAR_API_URL.")
    webhook_id = models.CharField(max_length=64, blank=True)
    webhook_secret_encrypted = models.TextField(blank=True)
    installed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    installed_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["organization_name", "id"]
        verbose_name = "Linear app installation"

    def __str__(self) -> str:
        return self.organization_name or self.organization_id


class SessionState(models.TextChoices):
    """Linear's AgentSessionStatus, plus what Switchboard knows on its side."""

    PENDING = "pending", "Pending"
    ACTIVE = "active", "Working"
    AWAITING_INPUT = "awaitingInput", "Waiting for a reply"
    COMPLETE = "complete", "Complete"
    ERROR = "error", "Error"
    STOPPED = "stopped", "Stopped"


class LinearAgentSession(models.Model):
    linear_id = models.CharField(max_length=64, unique=True)
    install = models.ForeignKey(LinearAppInstall, on_delete=models.CASCADE,
                                related_name="sessions")
    issue = models.ForeignKey("linear.LinearIssue", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="agent_sessions")
    issue_linear_id = models.CharField(max_length=64, blank=True, db_index=True)
    issue_identifier = models.CharField(max_length=32, blank=True)
    agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="linear_sessions")
    task = models.ForeignKey("agents.AgentTask", null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="linear_sessions")
    state = models.CharField(max_length=16, choices=SessionState.choices,
                             default=SessionState.PENDING)
    url = models.URLField(max_length=500, blank=True)
    creator_name = models.CharField(max_length=200, blank=True)
    prompt_context = models.TextField(blank=True)
    # The outbox sender's lease: one sender per session, so activities keep their order.
    outbox_lease_until = models.DateTimeField(null=True, blank=True)
    # The agent's events are mirrored in id order from here on, whichever worker gets there first.
    mirrored_event_id = models.BigIntegerField(default=0)
    # When the last tool-call summary went out: tool activity is batched, never one per call.
    last_action_at = models.DateTimeField(null=True, blank=True)
    # The coding agent's own to-do list (its TodoWrite / todowrite / update_plan tool calls) as
    # Linear plan steps; the session's plan is built around it (apps.linear.agent_sessions).
    plan_todos = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Linear session {self.issue_identifier or self.linear_id}"

    @property
    def is_open(self) -> bool:
        return self.state in (SessionState.PENDING, SessionState.ACTIVE,
                              SessionState.AWAITING_INPUT)


class ActivityKind(models.TextChoices):
    THOUGHT = "thought", "Thought"
    ACTION = "action", "Action"
    ELICITATION = "elicitation", "Elicitation"
    RESPONSE = "response", "Response"
    ERROR = "error", "Error"
    SESSION_UPDATE = "session_update", "Session update"  # agentSessionUpdate: link, plan


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    SENT = "sent", "Sent"
    REFUSED = "refused", "Refused by Linear"


class LinearAgentActivity(models.Model):
    session = models.ForeignKey(LinearAgentSession, on_delete=models.CASCADE,
                                related_name="activities")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=ActivityKind.choices)
    content = models.JSONField(default=dict)
    ephemeral = models.BooleanField(default=False)
    activity_id = models.UUIDField(default=uuid.uuid4, unique=True)
    # What caused it (an AgentEvent id), so a repeated reaction never mirrors an event twice.
    source_event_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=OutboxStatus.choices,
                              default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["session_id", "seq"]
        verbose_name_plural = "Linear agent activities"
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="linear_activity_seq"),
            models.UniqueConstraint(fields=["session", "source_event_id", "kind"],
                                    name="linear_activity_once_per_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} of {self.session_id}"
