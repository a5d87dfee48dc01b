"""Tool spans (traces): start and finish in any order; a finish alone makes a whole span."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.agents.lifecycle import project_of
from apps.agents.models import Agent, AgentEvent, AgentTask, SpanOutcome, ToolSpan
from apps.core.events import record_event
from apps.telemetry.models import TOKEN_FIELDS  # one list of token fields, spans and usage alike


def clip(value: Any) -> tuple[str, int]:
    """Stored truncated to 16 KB (on a character boundary) with the original size in bytes."""
    if value is None:
        return "", 0
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    raw = text.encode()
    if len(raw) <= ToolSpan.MAX_PAYLOAD:
        return text, len(raw)
    return raw[: ToolSpan.MAX_PAYLOAD].decode(errors="ignore"), len(raw)


def payload(fields: dict[str, Any], name: str) -> tuple[bool, str, int]:
    """Whether the tool's `input` or `output` came, clipped, and its size: the larger of what
    arrived and what the client says it cut (`input_size`, `output_size`)."""
    if name not in fields:
        return False, "", 0
    text, size = clip(fields[name])
    return True, text, max(size, fields.get(f"{name}_size") or 0)


def _record_span_usage(agent: Agent, span: ToolSpan) -> None:
    """Totals on every page come from TokenUsage alone, so a span that carries tokens is
    recorded there too, under the natural key `span:<span_id>`. A usage event about the same
    call sent with that key merges into the same row instead of counting twice."""
    from apps.telemetry.services import usage_record

    usage_record(agent=agent, key=f"span:{span.span_id}"[:200],
                 tokens={name: getattr(span, name) for name in TOKEN_FIELDS},
                 model=agent.model, turn=span.turn, task_id=span.task_id,
                 ts=span.finished_at or span.started_at)


@transaction.atomic(savepoint=False)  # inside ingest's per-event savepoint: no second one
def span_record(*, agent: Agent, span_id: str, phase: str, now: datetime | None = None,
                actor_label: str = "", idempotency_key: str = "", _exists: bool = False,
                **fields: Any) -> tuple[ToolSpan, AgentEvent]:
    """Start or finish a span in any order; a finish without a start makes a whole span. A new
    span is one INSERT with its fields (a start tries the INSERT before any lookup: the span is
    almost always new); `idempotency_key` goes into the event's INSERT."""
    now = now or timezone.now()
    if phase not in ("start", "finish"):
        raise ValidationError({"phase": ["Must be start or finish."]})
    span = None
    if phase == "finish" or _exists:
        span = ToolSpan.objects.select_for_update().filter(agent=agent, span_id=span_id).first()
    created = span is None
    if created:
        span = ToolSpan(project_id=agent.project_id, agent=agent, span_id=span_id)
    task_id = fields.get("task")
    if task_id and AgentTask.objects.filter(pk=task_id, agent=agent).exists():
        span.task_id = task_id
    elif span.task_id is None and agent.current_task_id:
        span.task_id = agent.current_task_id
    if fields.get("turn") is not None:
        span.turn = fields["turn"]
    if fields.get("tool_name"):
        span.tool_name = fields["tool_name"][:200]
    if phase == "start":
        span.started_at = fields.get("started_at") or now
        given, text, size = payload(fields, "input")
        if given:
            span.input, span.input_size = text, size
    else:
        span.finished_at = fields.get("finished_at") or now
        given, text, size = payload(fields, "output")
        if given:
            span.output, span.output_size = text, size
        span.error = (fields.get("error") or "")[:10_000]
        span.outcome = fields.get("outcome") or (SpanOutcome.ERROR if span.error else SpanOutcome.OK)
        for name in TOKEN_FIELDS:
            if fields.get(name) is not None:
                setattr(span, name, fields[name])
        if fields.get("latency_ms") is not None:
            span.latency_ms = fields["latency_ms"]
        if span.started_at is None:
            span.started_at = span.finished_at - timedelta(milliseconds=span.latency_ms or 0)
    if span.started_at and span.finished_at and fields.get("latency_ms") is None:
        span.latency_ms = max(int((span.finished_at - span.started_at).total_seconds() * 1000), 0)
    if created:
        try:
            with transaction.atomic():
                span.save(force_insert=True)
        except IntegrityError:  # the other phase's request made it meanwhile: apply to that row
            return span_record(agent=agent, span_id=span_id, phase=phase, now=now,
                               actor_label=actor_label, idempotency_key=idempotency_key,
                               _exists=True, **fields)
    else:
        span.save()
    if phase == "finish" and any(getattr(span, name) for name in TOKEN_FIELDS):
        _record_span_usage(agent, span)
    if phase == "start":
        data = {"span_id": span_id, "tool_name": span.tool_name, "turn": span.turn}
        kind = "span.started"
    else:
        data = {"span_id": span_id, "tool_name": span.tool_name, "latency_ms": span.latency_ms,
                "outcome": span.outcome}
        kind = "span.finished"
    event = record_event(kind, project=project_of(agent), agent=agent, task=None,
                         actor_label=actor_label, data=data, ts=now,
                         idempotency_key=idempotency_key)
    from apps.agents.services import agent_heartbeat

    agent_heartbeat(agent=agent, now=now, deliver=False)  # a span is a sign of life
    return span, event

