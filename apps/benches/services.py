"""Suites and runs: saving a suite, starting, cancelling and scheduling runs, pinning baselines.

Starting a run takes the endpoint's lease in the same transaction that creates the run (a
conditional UPDATE: free, or expired), so two admins, two beats or a beat and the command can
never run at once on one endpoint. The runner (apps/benches/runner.py) renews it and lets go.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.benches import live
from apps.benches.endpoints import endpoint_connection
from apps.benches.models import (
    ACTIVE_RUN_STATES,
    Endpoint,
    LoadMode,
    Run,
    RunState,
    Schedule,
    Suite,
    Trigger,
)
from apps.benches.traffic import foreign_requests
from apps.core.audit import audit_record
from apps.core.events import record_event

MAX_LEVELS = 16
MAX_CONCURRENCY = 1024
MAX_RATE = 1000.0
MAX_REQUESTS = 10_000
# A queued run holds the lease this long before a worker takes it; a running one renews it.
QUEUED_LEASE = timedelta(minutes=10)
RUNNING_LEASE = timedelta(minutes=2)

SUITE_CONFIG_FIELDS = (
    "mode", "concurrency_levels", "request_rates", "arrival", "prompt_set", "prompt_tokens",
    "max_tokens", "requests_per_level", "warmup_requests", "timeout_s", "slo_ttft_ms",
    "slo_tpot_ms", "slo_e2e_ms", "regression_threshold_pct",
)


class EndpointBusy(Exception):
    """Another run holds the endpoint."""

    def __init__(self, run_id: int | None) -> None:
        self.run_id = run_id
        super().__init__(f"Run {run_id} is already running on this endpoint." if run_id
                         else "Another run is using this endpoint.")


class ForeignTraffic(Exception):
    """The endpoint is serving someone else's requests; start again with confirmation."""

    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(f"The endpoint is serving {count} request(s) from elsewhere right now; "
                         "a run now would measure it under their load.")


# --- suites ----------------------------------------------------------------------------------
def _positive_list(value: Any, *, name: str, kind: type, top: float) -> list:
    if not isinstance(value, list) or not value:
        raise ValidationError({name: "Give at least one value."})
    if len(value) > MAX_LEVELS:
        raise ValidationError({name: f"At most {MAX_LEVELS} levels."})
    out = []
    for item in value:
        try:
            number = kind(item)
        except (TypeError, ValueError):
            raise ValidationError({name: f"{item!r} is not a number."}) from None
        if isinstance(item, float) and kind is int and item != int(item):
            raise ValidationError({name: f"{item!r} is not a whole number."})
        if not 0 < number <= top:
            raise ValidationError({name: f"Each value must be above 0 and at most {top:g}."})
        out.append(number)
    return sorted(set(out))


def parse_levels(text: str, *, kind: type = int) -> list:
    """"1, 2,4 8" → [1, 2, 4, 8]: what the forms and the command accept."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return [kind(p) for p in parts]
    except ValueError:
        raise ValidationError(f"{text!r} is not a list of numbers.") from None


def suite_validate(suite: Suite) -> None:
    errors: dict[str, str] = {}
    if suite.endpoint_id and suite.project_id and suite.endpoint.project_id != suite.project_id:
        errors["endpoint"] = "The endpoint belongs to another project."
    if not suite.model and suite.endpoint_id and not suite.endpoint.default_model:
        errors["model"] = "Name a model: the endpoint has no default model."
    try:
        if suite.mode == LoadMode.CONCURRENCY:
            suite.concurrency_levels = _positive_list(
                suite.concurrency_levels, name="concurrency_levels", kind=int, top=MAX_CONCURRENCY
            )
        else:
            suite.request_rates = _positive_list(
                suite.request_rates, name="request_rates", kind=float, top=MAX_RATE
            )
    except ValidationError as exc:
        errors |= {k: v[0].message for k, v in exc.error_dict.items()}
    if not 1 <= suite.requests_per_level <= MAX_REQUESTS:
        errors["requests_per_level"] = f"Between 1 and {MAX_REQUESTS}."
    if not 1 <= suite.max_tokens <= 32_768:
        errors["max_tokens"] = "Between 1 and 32768."
    if not 1 <= suite.prompt_tokens <= 128_000:
        errors["prompt_tokens"] = "Between 1 and 128000."
    if suite.warmup_requests > 1000:
        errors["warmup_requests"] = "At most 1000."
    if not 0.1 <= suite.timeout_s <= 3600:
        errors["timeout_s"] = "Between 0.1 and 3600 seconds."
    for name in ("slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms"):
        value = getattr(suite, name)
        if value is not None and value <= 0:
            errors[name] = "Above 0, or empty for no SLO."
    if not 0 < suite.regression_threshold_pct <= 1000:
        errors["regression_threshold_pct"] = "Between 0 and 1000 percent."
    if suite.schedule_hour > 23:
        errors["schedule_hour"] = "An hour from 0 to 23 (UTC)."
    if errors:
        raise ValidationError(errors)


def next_nightly(hour: int, *, after: datetime) -> datetime:
    at = after.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > after else at + timedelta(days=1)


@transaction.atomic
def suite_save(*, suite: Suite, actor: Any, request: Any = None) -> Suite:
    """Create or update a suite after validating it; schedules its next nightly run."""
    creating = suite.pk is None
    suite_validate(suite)
    if suite.schedule == Schedule.NIGHTLY:
        if suite.next_run_at is None or creating or _schedule_changed(suite):
            suite.next_run_at = next_nightly(suite.schedule_hour, after=timezone.now())
    else:
        suite.next_run_at = None
    if creating and actor is not None and getattr(actor, "is_authenticated", False):
        suite.created_by = actor
    suite.full_clean(exclude=["concurrency_levels", "request_rates"])
    suite.save()
    audit_record("bench.suite." + ("created" if creating else "updated"), actor=actor,
                 request=request, target=suite, data={"endpoint": suite.endpoint_id})
    return suite


def _schedule_changed(suite: Suite) -> bool:
    old = Suite.objects.filter(pk=suite.pk).values("schedule", "schedule_hour").first()
    return old is None or (old["schedule"], old["schedule_hour"]) != (
        suite.schedule, suite.schedule_hour)


@transaction.atomic
def suite_delete(*, suite: Suite, actor: Any, request: Any = None) -> None:
    audit_record("bench.suite.deleted", actor=actor, request=request, target=suite)
    suite.delete()


def suite_config(suite: Suite) -> dict[str, Any]:
    return {name: getattr(suite, name) for name in SUITE_CONFIG_FIELDS}


def config_from(**given: Any) -> dict[str, Any]:
    """A run's config from keyword settings (the command's, the API's ad-hoc runs), validated
    like a suite's with the suite defaults for the rest."""
    probe = Suite(**{k: v for k, v in given.items() if k in SUITE_CONFIG_FIELDS})
    probe.model = given.get("model", "x")
    suite_validate(probe)
    return suite_config(probe)


# --- runs ------------------------------------------------------------------------------------
def _take_lease(endpoint: Endpoint, run: Run, *, hold: timedelta) -> bool:
    now = timezone.now()
    return bool(
        Endpoint.objects.filter(pk=endpoint.pk)
        .filter(Q(lease_run__isnull=True) | Q(lease_until__lt=now) | Q(lease_run=run))
        .update(lease_run=run, lease_until=now + hold)
    )


def check_foreign_traffic(endpoint: Endpoint) -> int | None:
    return foreign_requests(
        root_url=endpoint.root_url, metrics_path=endpoint.metrics_path,
        headers=endpoint_connection(endpoint).request_headers(),
    )


def run_create(
    *,
    endpoint: Endpoint,
    model: str,
    config: dict[str, Any],
    actor: Any = None,
    trigger: str = Trigger.MANUAL,
    suite: Suite | None = None,
    baseline: Run | None = None,
    confirm_foreign: bool = False,
    enqueue: bool = True,
    request: Any = None,
) -> Run:
    """A queued run holding the endpoint's lease, handed to a worker on commit (unless
    `enqueue` is False: the command runs it in the foreground).

    Raises EndpointBusy when another run holds the endpoint, and ForeignTraffic when the
    endpoint's /metrics shows requests in flight and `confirm_foreign` is not set; with it,
    the run records their number and is marked polluted."""
    if not model:
        raise ValidationError({"model": "Name a model."})
    holder = _holder(endpoint)
    if holder is not None:
        raise EndpointBusy(holder)
    foreign = check_foreign_traffic(endpoint)
    if foreign and not confirm_foreign:
        raise ForeignTraffic(foreign)
    with transaction.atomic():
        run = Run.objects.create(
            project_id=endpoint.project_id, endpoint=endpoint, suite=suite, model=model,
            config=config, trigger=trigger,
            started_by=actor if getattr(actor, "is_authenticated", False) else None,
            baseline=baseline if baseline is not None else (suite.baseline if suite else None),
            concurrent_foreign_requests=foreign, polluted=bool(foreign),
        )
        if not _take_lease(endpoint, run, hold=QUEUED_LEASE):
            transaction.set_rollback(True)
            raise EndpointBusy(_holder(endpoint))
        record_event("bench.run.queued", project=endpoint.project, actor=actor,
                     data=_run_data(run) | {"trigger": trigger, "foreign_requests": foreign})
        if actor is not None and trigger != Trigger.SCHEDULE:
            audit_record("bench.run.started", actor=actor, request=request, target=run,
                         data={"endpoint": endpoint.pk, "model": model,
                               "foreign_requests": foreign})
        live.announce(run)
        if enqueue:
            transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _holder(endpoint: Endpoint) -> int | None:
    """The run holding a live lease on the endpoint, or None."""
    row = Endpoint.objects.filter(pk=endpoint.pk).values("lease_run", "lease_until").first()
    if row and row["lease_run"] and row["lease_until"] and row["lease_until"] > timezone.now():
        return row["lease_run"]
    return None


def _enqueue(run_id: int) -> None:
    from apps.benches.tasks import execute_run
    from apps.core.queueing import enqueue

    enqueue(execute_run, run_id, recovered_by="the bench schedule sweep")


def _run_data(run: Run) -> dict[str, Any]:
    return {"run": run.pk, "endpoint": run.endpoint_id, "endpoint_name": run.endpoint.name,
            "model": run.model, "suite": run.suite_id}


def run_start(
    *, suite: Suite, actor: Any, trigger: str = Trigger.MANUAL, confirm_foreign: bool = False,
    request: Any = None,
) -> Run:
    """Starts `suite` now (see run_create)."""
    return run_create(
        endpoint=suite.endpoint, model=suite.effective_model, config=suite_config(suite),
        actor=actor, trigger=trigger, suite=suite, confirm_foreign=confirm_foreign,
        request=request,
    )


def run_cancel(*, run: Run, actor: Any, request: Any = None) -> Run:
    """A queued run ends at once; a running one stops at its next check (well under a second),
    keeping its finished levels and the samples of the level it was in."""
    now = timezone.now()
    with transaction.atomic():
        if Run.objects.filter(pk=run.pk, state=RunState.QUEUED).update(
            state=RunState.CANCELLED, cancel_requested=True, finished_at=now,
            version=F("version") + 1,
        ):
            run_release(run)
        else:
            Run.objects.filter(pk=run.pk, state=RunState.RUNNING).update(
                cancel_requested=True, version=F("version") + 1)
        run.refresh_from_db()
        if run.cancel_requested:
            audit_record("bench.run.cancelled", actor=actor, request=request, target=run)
            live.announce(run)
    return run


def run_release(run: Run) -> None:
    Endpoint.objects.filter(pk=run.endpoint_id, lease_run=run).update(
        lease_run=None, lease_until=None)


@transaction.atomic
def baseline_pin(*, suite: Suite, run: Run | None, actor: Any, request: Any = None) -> Suite:
    """Makes `run` (finished, of this suite's endpoint and model) the suite's baseline; None
    unpins."""
    if run is not None:
        if run.state != RunState.FINISHED:
            raise ValidationError("Only a finished run can be a baseline.")
        if run.endpoint_id != suite.endpoint_id or run.model != suite.effective_model:
            raise ValidationError("The baseline must be a run of this suite's endpoint and model.")
    suite.baseline = run
    suite.save(update_fields=["baseline", "updated_at"])
    audit_record("bench.baseline." + ("pinned" if run else "unpinned"), actor=actor,
                 request=request, target=suite, data={"run": run.pk if run else None})
    return suite


# --- the schedule ----------------------------------------------------------------------------
def schedule_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Starts the nightly suites that are due; an endpoint that is busy (a run, or foreign
    traffic) is tried again BENCH_SCHEDULE_RETRY_SECONDS later. Also hands queued runs that no
    worker took to a worker again, and fails runs whose worker stopped renewing them."""
    now = now or timezone.now()
    counts = {"started": 0, "skipped": 0, "requeued": 0, "lost": 0}
    retry = timedelta(seconds=settings.BENCH_SCHEDULE_RETRY_SECONDS)
    due = Suite.objects.filter(schedule=Schedule.NIGHTLY, next_run_at__lte=now,
                               endpoint__enabled=True).select_related("endpoint", "baseline")
    for suite in due:
        # Claim this suite's turn: another beat that read the same row changes nothing.
        if not Suite.objects.filter(pk=suite.pk, next_run_at=suite.next_run_at).update(
            next_run_at=now + retry
        ):
            continue
        try:
            run_start(suite=suite, actor=None, trigger=Trigger.SCHEDULE)
        except (EndpointBusy, ForeignTraffic) as exc:
            counts["skipped"] += 1
            record_event("bench.run.skipped", project=suite.project,
                         data={"suite": suite.pk, "endpoint": suite.endpoint_id,
                               "reason": str(exc), "retry_at": (now + retry).isoformat()})
            continue
        except ValidationError as exc:  # the suite is wrong: retrying soon would not help
            counts["skipped"] += 1
            record_event("bench.run.skipped", project=suite.project,
                         data={"suite": suite.pk, "reason": "; ".join(exc.messages)})
            Suite.objects.filter(pk=suite.pk).update(
                next_run_at=next_nightly(suite.schedule_hour, after=now))
            continue
        Suite.objects.filter(pk=suite.pk).update(
            next_run_at=next_nightly(suite.schedule_hour, after=now))
        counts["started"] += 1
    stale_queue = now - timedelta(seconds=settings.BENCH_SCHEDULE_RETRY_SECONDS)
    for run_id in Run.objects.filter(state=RunState.QUEUED, created_at__lt=stale_queue,
                                     cancel_requested=False).values_list("pk", flat=True):
        _enqueue(run_id)
        counts["requeued"] += 1
    lost = now - RUNNING_LEASE - timedelta(minutes=1)
    for run in Run.objects.filter(state=RunState.RUNNING, heartbeat_at__lt=lost):
        if Run.objects.filter(pk=run.pk, state=RunState.RUNNING, heartbeat_at__lt=lost).update(
            state=RunState.FAILED, finished_at=now, version=F("version") + 1,
            error="The worker running it stopped (no progress for over 3 minutes).",
        ):
            run_release(run)
            counts["lost"] += 1
    return counts


def active_run(endpoint: Endpoint) -> Run | None:
    return Run.objects.filter(endpoint=endpoint, state__in=ACTIVE_RUN_STATES).first()
