"""Counters an agent exports as OpenTelemetry metrics (lines of code, commits, tokens by type,
active time, ...), kept as running totals per series."""

from __future__ import annotations

from django.db import models

from apps.agents.models import Agent
from apps.projects.models import Project


class Counter(models.Model):
    """One metric series of one agent (its name and the attributes that are not about who).

    `total` is what the series counted since it was first seen, whatever the temporality:
    delta points are added; cumulative points add their growth since the previous point, and a
    point that restarted (a new start time, or a value below the last one: the agent
    restarted) adds its whole value. A point not newer than the last one (an exporter's retry)
    adds nothing."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="counters",
                              db_index=False)
    name = models.CharField(max_length=200)
    series = models.CharField(max_length=24, help_text="A digest of the attributes.")
    attributes = models.JSONField(default=dict, blank=True)
    unit = models.CharField(max_length=30, blank=True)
    total = models.FloatField(default=0)
    observations = models.BigIntegerField(default=0, help_text="Histograms: values recorded.")
    cumulative = models.BooleanField(default=False)
    last_value = models.FloatField(default=0)
    last_count = models.BigIntegerField(default=0)
    start_ns = models.BigIntegerField(default=0)
    time_ns = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["agent", "name", "series"],
                                               name="otlp_counter_series")]
        indexes = [models.Index(fields=["project", "name"])]

    def __str__(self) -> str:
        return f"{self.name} = {self.total:g}"
