"""Token usage and the prices that turn it into cost."""

from __future__ import annotations

from typing import NamedTuple

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from apps.agents.models import Agent, AgentTask
from apps.projects.models import Project
from config.env import MAX_RETENTION_DAYS

TOKEN_FIELDS = (
    "tokens_input",
    "tokens_output",
    "tokens_cache_read",
    "tokens_cache_write",
    "tokens_reasoning",
)


class CostSource(models.TextChoices):
    PRICE_TABLE = "price_table", "Price table"
    CLIENT = "client", "Reported by the client"
    UNKNOWN = "unknown", "Unknown price"


class TokenUsage(models.Model):
    """One model call's tokens and cost, stored once per natural key (the API message id, the
    request id, `span:<span_id>`, ...). A repeated report of the same key takes the larger of
    each figure, so retries and streamed re-reports never count twice.

    `tokens_input` is the fresh (uncached) prompt; cache reads and writes are counted apart, and
    `tokens_reasoning` apart from `tokens_output` (both are billed at the output rate)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="token_usage")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="token_usage")
    task = models.ForeignKey(
        AgentTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="token_usage"
    )
    key = models.CharField(max_length=200)
    turn = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=150, blank=True)
    tokens_input = models.PositiveBigIntegerField(default=0)
    tokens_output = models.PositiveBigIntegerField(default=0)
    tokens_cache_read = models.PositiveBigIntegerField(default=0)
    tokens_cache_write = models.PositiveBigIntegerField(default=0)
    tokens_reasoning = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    cost_source = models.CharField(
        max_length=12, choices=CostSource.choices, default=CostSource.UNKNOWN
    )
    cost_list_usd = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True,
        help_text="The price table's figure, kept beside a cost the client reported.",
    )
    ts = models.DateTimeField(default=timezone.now, help_text="When the call happened.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-ts", "-id"]
        verbose_name_plural = "token usage"
        constraints = [
            models.UniqueConstraint(fields=["agent", "key"], name="token_usage_unique_key")
        ]
        indexes = [
            models.Index(fields=["project", "ts"]),
            models.Index(fields=["agent", "turn"]),
            # The usage rollup finds what changed since its last run.
            models.Index(fields=["updated_at"], name="token_usage_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.model or 'model?'})"


class ModelPrice(models.Model):
    """A price for one model in USD per million tokens, set by the team. It wins over the
    SWITCHBOARD_MODEL_PRICES setting and over the bundled price table."""

    model = models.CharField(
        max_length=150,
        unique=True,
        help_text="The model name exactly as the agent reports it (case does not matter).",
    )
    input = models.DecimalField(max_digits=12, decimal_places=6, help_text="USD per 1M tokens.")
    output = models.DecimalField(
        max_digits=12, decimal_places=6, help_text="USD per 1M tokens; reasoning tokens too."
    )
    cache_read = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="USD per 1M tokens; empty: the input price.",
    )
    cache_write = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="USD per 1M tokens; empty: the input price.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return self.model

    def clean(self) -> None:
        self.model = normalize_model(self.model)


def normalize_model(name: str) -> str:
    """How model names are compared: trimmed, lower case."""
    return (name or "").strip().lower()


# --- rollups ------------------------------------------------------------------------------
class Grain(models.IntegerChoices):
    """Bucket widths in seconds. Buckets start at multiples of their width in UTC, so a day
    bucket is a UTC day."""

    FIVE_MINUTES = 300, "5 minutes"
    HOUR = 3600, "1 hour"
    DAY = 86400, "1 day"


# Upper bounds (exclusive) of the tool-latency histogram buckets, in ms: 1-2-3-5-7 per decade
# from 1 ms to 100 s, then 200 s, 300 s and 600 s. Bucket i holds LATENCY_EDGES[i-1] <= ms <
# LATENCY_EDGES[i]; the last bucket holds everything from 600 s up. Percentiles of any range are
# read from the summed buckets, within one bucket's width of the exact value.
LATENCY_EDGES = (
    1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 200, 300, 500, 700,
    1_000, 2_000, 3_000, 5_000, 7_000, 10_000, 20_000, 30_000, 50_000, 70_000, 100_000,
    200_000, 300_000, 600_000,
)
HISTOGRAM = tuple(f"h{i:02d}" for i in range(len(LATENCY_EDGES) + 1))


class Rollup(models.Model):
    """What every rollup row shares: its bucket and where it belongs. `agent_id` is 0 for what
    no agent did, -1 for the sum over every agent of the project (see rollups.EVERY_AGENT), and
    is not a foreign key: a rollup outlives the agent it counts."""

    grain = models.PositiveIntegerField(choices=Grain.choices)
    start = models.DateTimeField()
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    agent_id = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.get_grain_display()} from {self.start:%Y-%m-%d %H:%M} UTC"


class EventRollup(Rollup):
    """Events by kind (alerts opened, acknowledged and resolved are `alert.*` events)."""

    kind = models.CharField(max_length=64)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["grain", "start", "project", "agent_id", "kind"],
                                    name="event_rollup_key")
        ]
        # An agent's rows (the agent page, a filter by agent) without reading the fleet's.
        indexes = [models.Index(fields=["agent_id", "grain", "start"], name="event_rollup_agent")]


class SpanRollup(Rollup):
    """Finished tool calls: count, errors and the latency histogram, by tool and model."""

    model = models.CharField(max_length=150, blank=True)
    tool = models.CharField(max_length=200, blank=True)
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    latency_count = models.BigIntegerField(default=0)
    latency_sum_ms = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "start", "project", "agent_id", "model", "tool"],
                name="span_rollup_key",
            )
        ]
        # An agent's rows (the agent page, a filter by agent) without reading the fleet's.
        indexes = [models.Index(fields=["agent_id", "grain", "start"], name="span_rollup_agent")]


for _name in HISTOGRAM:  # h00 … h29: calls per latency bucket
    SpanRollup.add_to_class(_name, models.BigIntegerField(default=0))


class UsageRollup(Rollup):
    """Tokens and cost by model, Linear issue and the person who assigned the task."""

    model = models.CharField(max_length=150, blank=True)
    issue = models.CharField(max_length=64, blank=True, help_text="Linear issue id, if any.")
    person = models.CharField(max_length=150, blank=True, help_text="Who assigned the task.")
    calls = models.BigIntegerField(default=0)
    unknown = models.BigIntegerField(default=0, help_text="Calls with no known price.")
    tokens_input = models.BigIntegerField(default=0)
    tokens_output = models.BigIntegerField(default=0)
    tokens_cache_read = models.BigIntegerField(default=0)
    tokens_cache_write = models.BigIntegerField(default=0)
    tokens_reasoning = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=8, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "start", "project", "agent_id", "model", "issue", "person"],
                name="usage_rollup_key",
            )
        ]
        # An agent's rows (the agent page, a filter by agent) without reading the fleet's.
        indexes = [models.Index(fields=["agent_id", "grain", "start"], name="usage_rollup_agent")]


class StatusRollup(Rollup):
    """Agent-seconds spent in a status, and for `blocked` how many blocks ended in the bucket
    and how long they had lasted (time to unblock)."""

    status = models.CharField(max_length=16)
    seconds = models.FloatField(default=0)
    unblocks = models.BigIntegerField(default=0)
    unblock_seconds = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["grain", "start", "project", "agent_id", "status"],
                                    name="status_rollup_key")
        ]
        # An agent's rows (the agent page, a filter by agent) without reading the fleet's.
        indexes = [models.Index(fields=["agent_id", "grain", "start"], name="status_rollup_agent")]


class Watermark(models.Model):
    """How far a rollup has read its source: the last event id (`position`) or the last change
    time (`at`) it has counted. Moved in the same transaction as the rows it counted, so a crash
    or a second worker never counts anything twice."""

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position or self.at}"


# --- scheduled reports ----------------------------------------------------------------------
class Cadence(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class Report(models.Model):
    """The digest of one period (a local day or a Monday–Sunday week) for one project or all of
    them, built once and shared by everyone who wants it. `content` holds the figures as they
    were computed (labels included), so a report reads the same after retention has removed the
    rows it came from, or an agent was deleted."""

    cadence = models.CharField(max_length=8, choices=Cadence.choices)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+", help_text="Empty: all projects.")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    title = models.CharField(max_length=200)
    content = models.JSONField(default=dict)
    slack_posted = models.JSONField(
        default=list, blank=True,
        help_text="Team Slack channels (ids) this report went to: each gets it once.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_end", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["cadence", "project", "period_start"],
                                    condition=models.Q(project__isnull=False),
                                    name="report_one_per_project_period"),
            models.UniqueConstraint(fields=["cadence", "period_start"],
                                    condition=models.Q(project__isnull=True),
                                    name="report_one_per_period"),
        ]
        indexes = [models.Index(fields=["-period_end", "-id"], name="report_newest")]

    def __str__(self) -> str:
        return self.title


class DigestCadence(models.TextChoices):
    OFF = "off", "Off"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


REPORT_CHANNELS = (("email", "Email"), ("slack", "Team Slack channels"))


def default_report_channels() -> list[str]:
    return ["email"]


class ReportSubscription(models.Model):
    """A person's digest: how often, for which project (or all), and where it goes.
    `last_period_end` is the end of the latest period sent (or skipped) for them; the beat task
    claims a period by moving it forward with a conditional UPDATE, so a period goes out once
    however many workers look at it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="report_subscription")
    cadence = models.CharField(max_length=8, choices=DigestCadence.choices,
                               default=DigestCadence.OFF)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+", help_text="Empty: all projects.")
    channels = models.JSONField(default=default_report_channels, blank=True)
    last_period_end = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["cadence", "last_period_end"], name="report_sub_due")]

    def __str__(self) -> str:
        return f"{self.get_cadence_display()} digest of {self.user}"


# --- retention ----------------------------------------------------------------------------
class RetentionKind(NamedTuple):
    key: str
    label: str
    setting: str  # the server's default, from the environment (config/settings.py)
    about: str


RETENTION_KINDS = (
    RetentionKind("events", "Raw events", "RETENTION_EVENTS_DAYS",
                  "The activity log. Never before the rollups have counted them."),
    RetentionKind("spans", "Tool spans", "RETENTION_SPANS_DAYS", "The trace viewer's tool calls."),
    RetentionKind("span_payloads", "Span input and output", "RETENTION_SPAN_PAYLOADS_DAYS",
                  "Emptied after this; the span and its sizes stay."),
    RetentionKind("usage", "Token usage records", "RETENTION_USAGE_DAYS",
                  "One per model call. Never before the usage rollup has read them."),
    RetentionKind("notifications", "Notifications", "RETENTION_NOTIFICATIONS_DAYS",
                  "Alert messages with their deliveries (email, push, Slack, webhooks)."),
    RetentionKind("webhooks", "Linear webhook deliveries", "RETENTION_WEBHOOKS_DAYS",
                  "Payloads Linear sent; applied ones only."),
    RetentionKind("sync_runs", "Linear sync runs", "RETENTION_SYNC_RUNS_DAYS",
                  "The sync log; the newest run of each kind stays."),
    RetentionKind("bench_samples", "Bench run samples", "RETENTION_BENCH_SAMPLES_DAYS",
                  "Each request of a finished bench run; its figures per level stay."),
    RetentionKind("rollups_5m", "5-minute rollups", "RETENTION_ROLLUPS_5M_DAYS",
                  "Charts of the last hours and days."),
    RetentionKind("rollups_1h", "Hourly rollups", "RETENTION_ROLLUPS_1H_DAYS",
                  "Charts of the last weeks."),
    RetentionKind("rollups_1d", "Daily rollups", "RETENTION_ROLLUPS_1D_DAYS", "History."),
)
RETENTION_KEYS = tuple(kind.key for kind in RETENTION_KINDS)


class RetentionPolicy(models.Model):
    """How many days each kind of row is kept, as an owner set it on the System page (one row,
    pk 1). An empty field means the server's setting (RETENTION_<KIND>_DAYS); 0 keeps rows
    forever."""

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retention policy"

    def __str__(self) -> str:
        return "Retention policy"

    @staticmethod
    def field_name(key: str) -> str:
        return f"{key}_days"

    @classmethod
    def windows(cls) -> dict[str, int]:
        """Days kept per kind (0: forever), read now."""
        return cls.windows_of(cls.objects.filter(pk=1).first())

    @classmethod
    def windows_of(cls, policy: RetentionPolicy | None) -> dict[str, int]:
        """Days kept per kind (0: forever): the owner's value where set, else the setting."""
        from django.conf import settings

        windows = {}
        for kind in RETENTION_KINDS:
            own = getattr(policy, cls.field_name(kind.key)) if policy is not None else None
            windows[kind.key] = own if own is not None else getattr(settings, kind.setting)
        return windows

for _kind in RETENTION_KINDS:
    RetentionPolicy.add_to_class(
        RetentionPolicy.field_name(_kind.key),
        models.PositiveIntegerField(
            null=True, blank=True, validators=[MaxValueValidator(MAX_RETENTION_DAYS)],
            help_text=f"Days; empty: the {_kind.setting} setting; 0: forever.",
        ),
    )
