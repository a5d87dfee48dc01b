"""Seeding for the control-room tests: agents, tasks and a traced session, written through the
agents services so every row, version and event is what the API would have produced."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone


def agent(project: Any, name: str, *, status: str = "idle", reason: str = "", **kwargs: Any):
    from apps.agents.services import agent_register, agent_set_status

    kwargs.setdefault("kind", "claude-code")
    kwargs.setdefault("model", "claude-opus-4")
    kwargs.setdefault("external_id", f"sess-{name}")
    a, _ = agent_register(project=project, name=name, **kwargs)
    if status != "idle":
        if status == "offline":
            from apps.agents.models import Agent

            # Offline is decided by the server's sweep, never reported; set it as the sweep does.
            Agent.objects.filter(pk=a.pk).update(status="offline", status_reason=reason)
            a.refresh_from_db()
        else:
            a = agent_set_status(agent=a, status=status, reason=reason)
    return a


def many(project: Any, n: int, prefix: str = "agent") -> list[Any]:
    statuses = ["working", "idle", "blocked", "error", "sleeping", "stopped"]
    return [
        agent(
            project,
            f"{prefix}-{i:03d}",
            status=statuses[i % len(statuses)],
            reason="waiting for review" if i % 6 == 2 else "",
        )
        for i in range(n)
    ]


def traced_session(a: Any) -> None:
    """Three turns of tool calls: fast, slow and very slow spans, one error, cache reads."""
    from apps.agents.services import span_record, task_assign

    task_assign(agent=a, title="Fix the flaky checkout test", priority=2)
    start = timezone.now() - timedelta(minutes=10)
    spans = [
        (1, "Read", 120, "ok", 1200, 80, 9000),
        (1, "Grep", 340, "ok", 300, 40, 2000),
        (2, "Bash", 3200, "ok", 2200, 500, 12000),
        (2, "Edit", 610, "error", 900, 60, 0),
        (3, "Bash", 7400, "ok", 1500, 900, 15000),
        (3, "Write", 90, "ok", 400, 30, 3000),
    ]
    for i, (turn, tool, ms, outcome, tin, tout, cache) in enumerate(spans):
        at = start + timedelta(seconds=20 * i)
        span_record(
            agent=a,
            span_id=f"toolu_{i:02d}",
            phase="start",
            now=at,
            turn=turn,
            tool_name=tool,
            input=f'{{"command": "step {i}", "tool": "{tool}"}}',
        )
        span_record(
            agent=a,
            span_id=f"toolu_{i:02d}",
            phase="finish",
            now=at + timedelta(milliseconds=ms),
            output=f"output of step {i}\n" * 3,
            latency_ms=ms,
            outcome=outcome,
            error="old_string not found in file" if outcome == "error" else "",
            tokens_input=tin,
            tokens_output=tout,
            tokens_cache_read=cache,
        )
