"""Endpoint liveness: probe each enabled endpoint and move its state between up, degraded and
down.

A probe is `GET /v1/models` (cheap; its answer also refreshes the stored model list) or, where
an endpoint asks for it, a 1-token non-streaming completion of its default model. Rules:
- success under BENCH_DEGRADED_MS → up;
- success but slower → degraded;
- a failure → degraded, and BENCH_DOWN_AFTER failures in a row → down;
- success again → up (or degraded when slow).
Every change of state records one `endpoint.<state>` event (agent=None, data: endpoint_id,
name, url, latency_ms, error, previous), which alert rules can watch.

Beat (`endpoints_probe_due`) claims each due endpoint with a conditional UPDATE of
`last_probe_at`, so two beats (or a beat and a slow worker) never probe it twice in a round;
results are written with a conditional UPDATE on the row's version, so two results computed
from the same state can never both record a transition. The HTTP work happens outside any
transaction, concurrently (asyncio + httpx), at most PROBE_CONCURRENCY at a time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.benches.endpoints import (
    Connection,
    EndpointUnreachable,
    endpoint_changed,
    endpoint_connection,
    error_text,
    models_from,
    status_text,
)
from apps.benches.models import Endpoint, EndpointState, ProbeKind
from apps.core.events import record_event

PROBE_CONCURRENCY = 16
MAX_PROBES_PER_ROUND = 1000
ERROR_CHARS = 500
APPLY_ATTEMPTS = 3


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float | None = None
    error: str = ""
    models: list[str] | None = None  # from a /v1/models probe


@dataclass(frozen=True)
class ProbeJob:
    endpoint_id: int
    connection: Connection
    probe: str
    model: str


# --- the wire ----------------------------------------------------------------------------------
def _completion_request(connection: Connection, model: str) -> tuple[str, dict[str, Any]]:
    messages = [{"role": "user", "content": "ping"}]
    body = {"model": model, "messages": messages, "max_tokens": 1, "stream": False}
    if connection.kind == "anthropic":
        return connection.url("/v1/messages"), body
    return connection.url("/v1/chat/completions"), body


async def probe_one(client: httpx.AsyncClient, job: ProbeJob, *, timeout: float) -> ProbeResult:
    connection = job.connection
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            if job.probe == ProbeKind.COMPLETION:
                url, body = _completion_request(connection, job.model)
                response = await client.post(url, json=body, headers=connection.request_headers())
            else:
                response = await client.get(connection.url("/v1/models"),
                                            headers=connection.request_headers())
            await response.aread()
    except TimeoutError:
        return ProbeResult(ok=False, error=f"Timed out after {timeout:g} s.")
    except httpx.HTTPError as exc:
        return ProbeResult(ok=False, error=error_text(exc))
    latency = (time.perf_counter() - started) * 1000
    if not 200 <= response.status_code < 300:
        return ProbeResult(ok=False, latency_ms=latency, error=status_text(response))
    models = None
    if job.probe != ProbeKind.COMPLETION:
        try:
            models = models_from(response.json())
        except (ValueError, EndpointUnreachable) as exc:
            message = str(exc) if isinstance(exc, EndpointUnreachable) else "not JSON"
            return ProbeResult(ok=False, latency_ms=latency,
                               error=f"GET /v1/models answered {response.status_code} but {message}")
    return ProbeResult(ok=True, latency_ms=latency, models=models)


async def _probe_all(jobs: list[ProbeJob], *, timeout: float, concurrency: int) -> dict[int, ProbeResult]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout + 1), limits=limits,
                                 follow_redirects=False) as client:
        async def one(job: ProbeJob) -> tuple[int, ProbeResult]:
            async with gate:
                return job.endpoint_id, await probe_one(client, job, timeout=timeout)

        return dict(await asyncio.gather(*(one(job) for job in jobs)))


def probe_jobs(jobs: list[ProbeJob], *, timeout: float | None = None,
               concurrency: int = PROBE_CONCURRENCY) -> dict[int, ProbeResult]:
    """Run the probes concurrently; sync callers (tasks, views) only, never inside a loop."""
    if not jobs:
        return {}
    timeout = float(timeout or settings.BENCH_PROBE_TIMEOUT_SECONDS)
    return asyncio.run(_probe_all(jobs, timeout=timeout, concurrency=concurrency))


def job_for(endpoint: Endpoint) -> ProbeJob:
    return ProbeJob(endpoint_id=endpoint.pk, connection=endpoint_connection(endpoint),
                    probe=endpoint.probe, model=endpoint.default_model)


# --- the state machine --------------------------------------------------------------------------
def next_state(*, state: str, failures: int, result: ProbeResult,
               degraded_ms: float | None = None, down_after: int | None = None) -> tuple[str, int]:
    """(new state, consecutive failures) after one probe."""
    degraded_ms = degraded_ms if degraded_ms is not None else settings.BENCH_DEGRADED_MS
    down_after = down_after if down_after is not None else settings.BENCH_DOWN_AFTER
    if result.ok:
        slow = result.latency_ms is not None and result.latency_ms > degraded_ms
        return (EndpointState.DEGRADED if slow else EndpointState.UP), 0
    failures += 1
    if failures >= down_after:
        return EndpointState.DOWN, failures
    if state == EndpointState.DOWN:
        return EndpointState.DOWN, failures  # only a success brings it back
    return EndpointState.DEGRADED, failures


def probe_apply(*, endpoint_id: int, result: ProbeResult, now: datetime | None = None) -> str | None:
    """Write one probe's outcome. Returns the event kind recorded for a change of state, or
    None. The UPDATE is conditional on the version read, so of two results computed from the
    same state only one lands as computed; the other is re-computed from the new state."""
    now = now or timezone.now()
    for _ in range(APPLY_ATTEMPTS):
        endpoint = Endpoint.objects.select_related("project").filter(pk=endpoint_id).first()
        if endpoint is None:
            return None  # deleted while it was being probed
        state, failures = next_state(state=endpoint.state, failures=endpoint.consecutive_failures,
                                     result=result)
        fields: dict[str, Any] = {"last_probe_at": now, "consecutive_failures": failures,
                                  "state": state, "version": F("version") + 1}
        if result.ok:
            fields |= {"last_seen_at": now, "last_latency_ms": result.latency_ms, "last_error": ""}
        else:
            fields["last_error"] = result.error[:ERROR_CHARS] or "Failed."
        if result.models is not None:
            fields["models_fetched_at"] = now
            if result.models != endpoint.models_list:
                fields["models_list"] = result.models
        previous = endpoint.state
        changed = state != previous
        if changed:
            fields["state_changed_at"] = now
        with transaction.atomic():
            won = Endpoint.objects.filter(pk=endpoint.pk, version=endpoint.version).update(**fields)
            if not won:
                continue
            endpoint.refresh_from_db()
            kind = None
            if changed:
                kind = f"endpoint.{state}"
                record_event(
                    kind, project=endpoint.project, agent=None, actor_label="probe",
                    data={"endpoint_id": endpoint.pk, "name": endpoint.name,
                          "url": endpoint.base_url, "state": state, "previous": previous,
                          "latency_ms": round(result.latency_ms, 1) if result.latency_ms else None,
                          "error": endpoint.last_error, "consecutive_failures": failures},
                )
            endpoint_changed(endpoint)
            return kind
    return None


# --- entry points -------------------------------------------------------------------------------
def endpoint_probe(*, endpoint: Endpoint) -> Endpoint:
    """Probe now (a person asked): no claim, the result is applied like any other."""
    result = probe_jobs([job_for(endpoint)])[endpoint.pk]
    probe_apply(endpoint_id=endpoint.pk, result=result)
    endpoint.refresh_from_db()
    return endpoint


def endpoints_claim_due(*, now: datetime | None = None) -> list[Endpoint]:
    """Enabled endpoints not probed in the last half interval, each claimed by a conditional
    UPDATE of last_probe_at: a second beat in the same round finds nothing to claim."""
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.BENCH_PROBE_SECONDS / 2)
    due = list(
        Endpoint.objects.filter(enabled=True)
        .filter(Q(last_probe_at__isnull=True) | Q(last_probe_at__lte=since))
        .order_by(F("last_probe_at").asc(nulls_first=True), "id")
        .values_list("id", "last_probe_at")[:MAX_PROBES_PER_ROUND]
    )
    claimed = []
    for pk, last in due:
        if Endpoint.objects.filter(pk=pk, last_probe_at=last).update(last_probe_at=now):
            claimed.append(pk)
    return list(Endpoint.objects.filter(pk__in=claimed))


def endpoints_probe_due(*, now: datetime | None = None) -> dict[str, int]:
    """The beat task's work: claim, probe concurrently, apply each result."""
    endpoints = endpoints_claim_due(now=now)
    results = probe_jobs([job_for(e) for e in endpoints])
    transitions = 0
    for endpoint_id, result in results.items():
        if probe_apply(endpoint_id=endpoint_id, result=result) is not None:
            transitions += 1
    return {"probed": len(results), "transitions": transitions}
