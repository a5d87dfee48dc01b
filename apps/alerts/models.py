"""Alert rules, alerts, the notifications they cause and the per-channel deliveries.

An AlertRule watches one event kind. When it matches, the engine opens an Alert (one open
alert per rule and subject; repeats increment `count`) and decides whether to notify:
a Notification is one message about one subject (an agent, or a project for agent-less
events), either `sent` or held back (`throttled`, `suppressed`) and summarised later.
A sent Notification fans out to Deliveries, one per channel target, each with its attempts.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.fields import EncryptedTextField
from apps.core.models import VersionedModel


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


class Channel(models.TextChoices):
    """What a rule can notify. In-app (the inbox) is always on."""

    EMAIL = "email", "Email"
    WEBPUSH = "webpush", "Web push"
    SLACK = "slack", "Slack"
    WEBHOOK = "webhook", "Webhook"


ALL_CHANNELS = [c.value for c in Channel]
CHANNEL_LABELS = {"inapp": "In-app", **dict(Channel.choices)}

# The watched events offered in forms; any other dotted event kind may be typed in.
WATCH_PRESETS = [
    ("agent.blocked", "Agent blocked"),
    ("agent.error", "Agent error"),
    ("task.completed", "Task completed"),
    ("agent.idle", "Agent idle"),
    ("agent.offline", "Agent stale / offline"),
    ("endpoint.down", "Model endpoint down"),
    ("endpoint.degraded", "Model endpoint degraded"),
    ("bench.regression", "Bench regression (slower than the baseline)"),
    ("bench.run.failed", "Bench run failed"),
]
WATCH_LABELS = dict(WATCH_PRESETS)


def default_channels() -> list[str]:
    return list(ALL_CHANNELS)


class AlertRule(VersionedModel):
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text="Empty: every project.",
    )
    event_kind = models.CharField(
        max_length=64, help_text="The event kind watched, e.g. agent.blocked or hook.notification."
    )
    agent_kind = models.CharField(max_length=40, blank=True, help_text="Empty: any kind of agent.")
    threshold = models.PositiveIntegerField(
        default=1, help_text="How many matching events within the window open the alert."
    )
    window_minutes = models.PositiveIntegerField(default=10)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    channels = models.JSONField(default=default_channels, blank=True)
    action_interval_minutes = models.PositiveIntegerField(
        default=60, help_text="At most one notification per agent for this rule in this time."
    )
    respect_sleep_windows = models.BooleanField(default=True)
    respect_quiet_hours = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def event_label(self) -> str:
        return WATCH_LABELS.get(self.event_kind, self.event_kind)

    @property
    def condition_label(self) -> str:
        if self.threshold > 1:
            return f"{self.threshold}× within {self.window_minutes} min"
        return "every time"

    @property
    def action_interval(self) -> timedelta:
        return timedelta(minutes=self.action_interval_minutes)


class AlertPolicy(models.Model):
    """Team-wide alerting settings (one row): quiet hours in the team's time zone."""

    quiet_hours_enabled = models.BooleanField(default=False)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "alert policy"

    def __str__(self) -> str:
        return "Alert policy"

    @classmethod
    def current(cls) -> AlertPolicy:
        return cls.objects.get_or_create(pk=1)[0]


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


ACTIVE_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


class Alert(VersionedModel):
    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="alerts")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="alerts")
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    # "<rule id>:a<agent id>" or "<rule id>:p<project id>" (+ ":endpoint_id=<id>" for an
    # agentless event about one thing, rules.SUBJECT_KINDS): one active alert per key.
    dedupe_key = models.CharField(max_length=64)
    state = models.CharField(
        max_length=16, choices=AlertState.choices, default=AlertState.OPEN, db_index=True
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    event_kind = models.CharField(max_length=64)
    title = models.CharField(max_length=300)
    message = models.TextField(blank=True)
    count = models.PositiveIntegerField(default=1)
    first_event_id = models.BigIntegerField(null=True, blank=True)
    last_event_id = models.BigIntegerField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_fired_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_action_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_reason = models.CharField(max_length=200, blank=True)
    # Out of the active view, its notifications held, until then (a "Snoozed" filter shows it).
    snoozed_until = models.DateTimeField(null=True, blank=True, db_index=True)
    snoozed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Opened while its agent or rule was muted: recorded, not notified.
    muted = models.BooleanField(default=False)
    # A grouped alert (many agents offline together): agent is empty and members lists them,
    # [{"id": <agent id>, "name": "<name>"}], oldest first. Changed only under the row's lock.
    grouped = models.BooleanField(default=False)
    members = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-last_fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(state__in=["open", "acknowledged"]),
                name="alert_one_active_per_rule_and_subject",
            ),
            # An info alert opens resolved, so the constraint above cannot dedupe it: one per
            # rule and event, whichever worker evaluates the event (and however often).
            models.UniqueConstraint(
                fields=["rule", "first_event_id"], condition=Q(severity="info"),
                name="alert_one_info_per_rule_and_event",
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "state"]),
            models.Index(fields=["project", "state", "-last_fired_at"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def is_snoozed(self, now: datetime | None = None) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > (now or timezone.now())

    @property
    def snoozed(self) -> bool:
        return self.is_active and self.is_snoozed()


class NotificationState(models.TextChoices):
    SENT = "sent", "Sent"
    THROTTLED = "throttled", "Throttled"
    SUPPRESSED = "suppressed", "Suppressed"
    MUTED = "muted", "Muted"


class Notification(models.Model):
    """One message about one subject. Held-back ones point at the message that summarised them."""

    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    subject = models.CharField(max_length=40, db_index=True, help_text="agent:<id> or project:<id>")
    state = models.CharField(max_length=12, choices=NotificationState.choices)
    reason = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    channels = models.JSONField(default=list, blank=True)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    summary = models.JSONField(default=list, blank=True, help_text="Held-back messages included.")
    summarised_in = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="summarised"
    )
    is_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subject", "state", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_state_display()}: {self.title}"


class AlertMute(models.Model):
    """New alerts for this agent or rule are recorded but not notified, until `until` (empty:
    until someone lifts it). Exactly one of agent and rule is set."""

    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="mutes"
    )
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted.")
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(agent__isnull=False, rule__isnull=True)
                | Q(agent__isnull=True, rule__isnull=False),
                name="alert_mute_agent_or_rule",
            )
        ]

    def __str__(self) -> str:
        return f"Mute of {self.subject_label}"

    @property
    def subject_label(self) -> str:
        return f"agent {self.agent}" if self.agent_id else f"rule {self.rule}"

    @classmethod
    def active_q(cls, now: datetime) -> Q:
        return Q(lifted_at__isnull=True) & (Q(until__isnull=True) | Q(until__gt=now))


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One notification to one target (a person's email or browser, a team channel)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=12)
    target = models.CharField(max_length=300, help_text="Who or where, for people reading logs.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team_channel = models.ForeignKey(
        "TeamChannel", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    subscription = models.ForeignKey(
        "PushSubscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    attempt_log = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.channel} → {self.target} ({self.state})"

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)


class TeamChannel(models.Model):
    """A team-wide destination: a Slack incoming webhook or a signed generic webhook."""

    KINDS = [(Channel.SLACK.value, "Slack"), (Channel.WEBHOOK.value, "Webhook")]

    kind = models.CharField(max_length=12, choices=KINDS)
    name = models.CharField(max_length=100)
    # Encrypted at rest: a Slack webhook URL is itself a credential.
    url = EncryptedTextField()
    secret = EncryptedTextField(blank=True, help_text="whsec_… for webhooks.")
    min_severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"

    @staticmethod
    def new_secret() -> str:
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def default_severities() -> list[str]:
    return [Severity.WARNING.value, Severity.CRITICAL.value]


class PersonalSettings(models.Model):
    """A person's own channels. No row means the defaults below."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_settings"
    )
    email_enabled = models.BooleanField(default=True)
    email = models.EmailField(blank=True, help_text="Empty: the account's address.")
    push_enabled = models.BooleanField(default=True)
    severities = models.JSONField(default=default_severities, blank=True)
    inbox_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "personal settings"

    def __str__(self) -> str:
        return f"Alert settings of {self.user}"


class PushSubscription(models.Model):
    """One browser's push subscription; `browser_id` keeps it to one per browser."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    browser_id = models.CharField(max_length=64)
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "browser_id"], name="push_one_per_browser")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.user_agent[:40] or self.browser_id}"


class VapidKey(models.Model):
    """The server's VAPID key pair, generated on first use and kept."""

    private_pem = EncryptedTextField()
    public_key = models.CharField(max_length=200, help_text="base64url, uncompressed point")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "VAPID key"

    def __str__(self) -> str:
        return f"VAPID key {self.public_key[:16]}…"


class PendingEvaluation(models.Model):
    """An event the engine has yet to evaluate. Written in the event's own transaction (an event
    that committed is never missed, whatever happens to the broker) and deleted in the
    transaction that evaluates it, so workers take them in batches: one commit and one Celery
    task for many events (engine.drain)."""

    event_id = models.BigIntegerField(primary_key=True)

    class Meta:
        verbose_name = "event waiting for the alert engine"

    def __str__(self) -> str:
        return f"event {self.event_id}"
