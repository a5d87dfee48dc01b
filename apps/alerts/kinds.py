"""The event kinds an alert rule may watch, in one place.

Built from the kinds the code records (grep `record_event(` across apps/): a rule naming a
kind nobody records would never fire, so forms and the API refuse it with this list. Agents
may also send their own hook events (apps/agents/ingest.py: any dotted type the server does not
interpret, conventionally `hook.<name>`), so every `hook.*` kind is accepted too.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

KNOWN_KINDS: frozenset[str] = frozenset({
    # agents: status transitions (agents.lifecycle.event_kind_for) and their life
    "agent.blocked", "agent.idle", "agent.offline", "agent.online", "agent.sleeping", "agent.woke",
    "agent.unblocked", "agent.status_changed", "agent.error", "agent.registered",
    "agent.updated", "agent.archived", "agent.deleted", "agent.usage",
    # tasks (agents.services)
    "task.assigned", "task.started", "task.progress", "task.updated", "task.completed",
    "task.failed", "task.cancelled",
    # commands, approvals, workflows, spans
    "command.created", "command.delivered", "command.acked",
    "approval.requested", "approval.decided", "approval.expired",
    "workflow.started", "workflow.step_started", "workflow.step_failed", "workflow.paused",
    "workflow.resumed", "workflow.approval_requested", "workflow.approved",
    "workflow.completed", "workflow.cancelled",
    "span.started", "span.finished",
    # model endpoints and benchmarks (benches.probe, benches.runner)
    "endpoint.up", "endpoint.down", "endpoint.degraded",
    "bench.run.queued", "bench.run.started", "bench.run.skipped", "bench.run.finished",
    "bench.run.failed", "bench.run.cancelled", "bench.regression",
})
# Families whose members agents name themselves (Claude Code hooks and the like).
OPEN_PREFIXES: tuple[str, ...] = ("hook.",)


def is_valid(kind: str) -> bool:
    return kind in KNOWN_KINDS or any(
        kind.startswith(p) and len(kind) > len(p) for p in OPEN_PREFIXES)


def valid_kinds_text() -> str:
    """Every valid kind, compact: families share their prefix, e.g. task.{completed, failed}."""
    families: dict[str, list[str]] = {}
    for kind in sorted(KNOWN_KINDS):
        head, _, tail = kind.rpartition(".")
        families.setdefault(head, []).append(tail)
    parts = [f"{head}.{{{', '.join(tails)}}}" if len(tails) > 1 else f"{head}.{tails[0]}"
             for head, tails in families.items()]
    return "; ".join(parts) + "; or " + " / ".join(f"{p}<name>" for p in OPEN_PREFIXES)


def validate(kind: str) -> None:
    """ValidationError naming every valid kind, for forms and serializers alike."""
    if kind.startswith("alert."):
        raise ValidationError("Alerts cannot watch alert events.")
    if not is_valid(kind):
        raise ValidationError(f"Unknown event kind {kind!r}. Valid kinds: {valid_kinds_text()}.")
