"""Token usage and the prices that turn it into cost."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.agents.models import Agent, AgentTask
from apps.projects.models import Project

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
