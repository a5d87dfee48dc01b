"""Model endpoints, bench suites, runs, their levels and raw samples.

An endpoint is a model server a project's agents use (OpenAI-compatible or Anthropic). A suite
says how to measure it; a run is one measurement, with its settings copied in (`config`) so
editing the suite later never rewrites history. A run has one `RunLevel` per concurrency (or
request rate) and one `Sample` per measured request.

One run per endpoint at a time: the endpoint row holds the lease (`lease_run`, `lease_until`),
taken with a conditional UPDATE and renewed while the run goes, so a crashed worker's lease
expires instead of blocking the endpoint forever.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class EndpointKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic Messages"


class ProbeKind(models.TextChoices):
    MODELS = "models", "GET /v1/models"
    COMPLETION = "completion", "1-token completion"


class EndpointState(models.TextChoices):
    UNKNOWN = "unknown", "Not probed yet"
    UP = "up", "Up"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"


class Endpoint(models.Model):
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="bench_endpoints"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=EndpointKind.choices, default=EndpointKind.OPENAI)
    base_url = models.URLField(max_length=500, help_text="Without /v1, e.g. http://gpu1:8000")
    api_key_encrypted = models.TextField(blank=True)
    api_key_hint = models.CharField(max_length=16, blank=True, help_text="Last characters only.")
    default_model = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="Extra request headers.")
    probe = models.CharField(max_length=20, choices=ProbeKind.choices, default=ProbeKind.MODELS)
    metrics_path = models.CharField(
        max_length=200, blank=True, default="/metrics",
        help_text="Prometheus metrics (vLLM, SGLang, llama.cpp) to see foreign traffic; "
                  "empty to skip the check.",
    )
    enabled = models.BooleanField(default=True, help_text="Probed and schedulable.")
    # liveness
    state = models.CharField(
        max_length=20, choices=EndpointState.choices, default=EndpointState.UNKNOWN
    )
    state_changed_at = models.DateTimeField(null=True, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Last successful probe.")
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    models_list = models.JSONField(default=list, blank=True)
    models_fetched_at = models.DateTimeField(null=True, blank=True)
    # one run at a time
    lease_run = models.ForeignKey(
        "benches.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_until = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("project_id", "name")
        constraints = [
            models.UniqueConstraint(fields=("project", "name"), name="bench_endpoint_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def root_url(self) -> str:
        """The base URL without a trailing `/v1`: where `/metrics` lives."""
        base = self.base_url.rstrip("/")
        return base[:-3] if base.endswith("/v1") else base

    def leased(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.lease_run_id is not None and self.lease_until is not None and self.lease_until > now


class LoadMode(models.TextChoices):
    CONCURRENCY = "concurrency", "Concurrency levels"
    RATE = "rate", "Request rates"


class Arrival(models.TextChoices):
    CONSTANT = "constant", "Constant"
    POISSON = "poisson", "Poisson"


class PromptSet(models.TextChoices):
    FIXED = "fixed", "Fixed length"
    BUILTIN = "builtin", "Built-in prompt set"


class Schedule(models.TextChoices):
    NONE = "", "Manual only"
    NIGHTLY = "nightly", "Nightly"


class Suite(models.Model):
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="bench_suites"
    )
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="suites")
    name = models.CharField(max_length=100)
    model = models.CharField(max_length=200, blank=True, help_text="Default: the endpoint's.")
    mode = models.CharField(max_length=20, choices=LoadMode.choices, default=LoadMode.CONCURRENCY)
    concurrency_levels = models.JSONField(default=list, blank=True)  # [1, 2, 4, 8]
    request_rates = models.JSONField(default=list, blank=True)  # requests/s [0.5, 1, 2]
    arrival = models.CharField(max_length=20, choices=Arrival.choices, default=Arrival.CONSTANT)
    prompt_set = models.CharField(max_length=20, choices=PromptSet.choices, default=PromptSet.FIXED)
    prompt_tokens = models.PositiveIntegerField(default=128)
    max_tokens = models.PositiveIntegerField(default=128)
    requests_per_level = models.PositiveIntegerField(default=32)
    warmup_requests = models.PositiveIntegerField(default=2)
    timeout_s = models.FloatField(default=60.0)
    slo_ttft_ms = models.FloatField(null=True, blank=True)
    slo_tpot_ms = models.FloatField(null=True, blank=True)
    slo_e2e_ms = models.FloatField(null=True, blank=True)
    schedule = models.CharField(max_length=20, choices=Schedule.choices, default="", blank=True)
    schedule_hour = models.PositiveSmallIntegerField(default=3, help_text="UTC hour.")
    next_run_at = models.DateTimeField(null=True, blank=True)
    regression_threshold_pct = models.FloatField(default=10.0)
    baseline = models.ForeignKey(
        "benches.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("project_id", "name")
        constraints = [
            models.UniqueConstraint(fields=("project", "name"), name="bench_suite_name_unique")
        ]
        indexes = [models.Index(fields=("schedule", "next_run_at"), name="bench_suite_due")]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_model(self) -> str:
        return self.model or self.endpoint.default_model


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_RUN_STATES = (RunState.QUEUED, RunState.RUNNING)


class Trigger(models.TextChoices):
    MANUAL = "manual", "Started from the page"
    API = "api", "API"
    SCHEDULE = "schedule", "Schedule"
    COMMAND = "command", "manage.py bench"


class Run(models.Model):
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="bench_runs"
    )
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="runs")
    suite = models.ForeignKey(
        Suite, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    model = models.CharField(max_length=200)
    # The suite's settings at the start: mode, levels, rates, arrival, prompt_set,
    # prompt_tokens, max_tokens, requests_per_level, warmup_requests, timeout_s, slo_*_ms,
    # regression_threshold_pct.
    config = models.JSONField(default=dict)
    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.QUEUED)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    cancel_requested = models.BooleanField(default=False)
    polluted = models.BooleanField(default=False)
    concurrent_foreign_requests = models.PositiveIntegerField(null=True, blank=True)
    # {"level": index, "levels": n, "done": k, "total": m, "ttft_p50_ms": x, "itl_p50_ms": y}
    progress = models.JSONField(default=dict, blank=True)
    baseline = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # [{"metric", "concurrency" | "rate", "baseline", "value", "change_pct"}]
    regressions = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=1)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("endpoint", "model", "-created_at"), name="bench_run_history"),
            models.Index(fields=("state",), name="bench_run_state"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.model} on {self.endpoint_id}"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_RUN_STATES


class RunLevel(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="levels")
    index = models.PositiveSmallIntegerField()
    concurrency = models.PositiveIntegerField(null=True, blank=True)
    rate = models.FloatField(null=True, blank=True, help_text="Requests/s; None for concurrency.")
    requests = models.PositiveIntegerField()
    completed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    duration_s = models.FloatField(default=0)
    cancelled = models.BooleanField(default=False)
    # The level as `manage.py bench run --json` prints it: ttft_ms/itl_ms/tpot_ms/e2e_ms each
    # {"mean", "p50", "p90", "p99"}, output_tokens_per_s, requests_per_s, goodput.
    figures = models.JSONField(default=dict)
    # ITL distribution: {"edges": [ms...], "counts": [...]}
    itl_histogram = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("run_id", "index")
        constraints = [
            models.UniqueConstraint(fields=("run", "index"), name="bench_level_unique")
        ]

    def __str__(self) -> str:
        load = f"{self.rate:g} req/s" if self.rate is not None else f"concurrency {self.concurrency}"
        return f"Run {self.run_id}, {load}"


class Sample(models.Model):
    level = models.ForeignKey(RunLevel, on_delete=models.CASCADE, related_name="samples")
    seq = models.PositiveIntegerField()
    started_s = models.FloatField(default=0)
    ttft_ms = models.FloatField(null=True, blank=True)
    e2e_ms = models.FloatField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(default=0)
    itl_ms = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("level_id", "seq")

    def __str__(self) -> str:
        return f"Sample {self.seq} of level {self.level_id}"
