"""Seeding for the control-room tests: agents, tasks and a traced session, written through the
agents services so every row, version and event is what the API would have produced."""

from __future__ import annotations

import json
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


# (tool, input, output, ms, outcome, error): what a coding agent's turns look like.
_CALLS = [
    ("Read", {"file_path": "src/checkout/cart.py"}, "class Cart:\n    ...\n", 45, "ok", ""),
    ("Grep", {"pattern": "def total", "path": "src"}, "src/checkout/cart.py:41", 180, "ok", ""),
    ("Edit", {"file_path": "src/checkout/cart.py", "old_string": "round(x)",
              "new_string": "round(x, 2)"}, "", 90, "error", "old_string not found in file"),
    ("Edit", {"file_path": "src/checkout/cart.py", "old_string": "round(total)",
              "new_string": "round(total, 2)"}, "The file was updated.", 120, "ok", ""),
    ("Bash", {"command": "pytest tests/checkout -q"}, "....F\n1 failed, 4 passed in 6.2s",
     6400, "error", "exit status 1"),
    ("Bash", {"command": "pytest tests/checkout -q"}, ".....\n5 passed in 5.9s", 6100, "ok", ""),
    ("Read", {"file_path": "tests/checkout/test_cart.py"}, "def test_total():\n    ...\n", 38,
     "ok", ""),
]


def waterfall_session(a: Any, *, turns: int = 12, start: Any = None) -> list[Any]:
    """`turns` turns of Read/Grep/Edit/Bash calls, some failing, turns from a few seconds to two
    minutes long; every fourth turn a Task call whose sub-agent (linked by the Task's
    tool_use_id, as the Claude Code hook does) runs its own calls inside it. Returns the
    sub-agents."""
    from apps.agents.services import span_record

    start = start or timezone.now() - timedelta(hours=2)
    subs = []
    at = start
    for turn in range(1, turns + 1):
        calls = _CALLS[: 2 + turn % 5] if turn % 3 else _CALLS[:2]
        stretch = 1 + (turn % 4) * 4  # some turns run long
        for i, (tool, inp, out, ms, outcome, error) in enumerate(calls):
            ms = ms * stretch
            sid = f"toolu_{turn:03d}_{i}"
            span_record(agent=a, span_id=sid, phase="start", now=at, turn=turn, tool_name=tool,
                        input=json.dumps(inp))
            span_record(agent=a, span_id=sid, phase="finish", now=at + timedelta(milliseconds=ms),
                        output=out, outcome=outcome, error=error, latency_ms=ms,
                        tokens_input=300 + 40 * i, tokens_output=60 + 10 * i,
                        tokens_cache_read=2000 * (i + 1))
            at += timedelta(milliseconds=ms + 400)
        if turn % 4 == 0:
            sid = f"toolu_{turn:03d}_task"
            task_ms = 24_000
            span_record(agent=a, span_id=sid, phase="start", now=at, turn=turn, tool_name="Task",
                        input=json.dumps({"description": "Run the checkout suite",
                                          "subagent_type": "test-runner",
                                          "prompt": "Run tests/checkout and report failures."}))
            sub = agent(a.project, f"{a.name} › test-runner {turn}", status="idle", parent=a,
                        external_id=f"{a.external_id}:sub{turn}",
                        metadata={"tool_use_id": sid, "subagent_type": "test-runner"})
            subs.append(sub)
            sub_at = at + timedelta(milliseconds=800)
            for j, (tool, inp, out, ms, outcome, error) in enumerate(_CALLS[4:7]):
                ssid = f"{sid}_sub{j}"
                span_record(agent=sub, span_id=ssid, phase="start", now=sub_at, turn=1,
                            tool_name=tool, input=json.dumps(inp))
                span_record(agent=sub, span_id=ssid, phase="finish",
                            now=sub_at + timedelta(milliseconds=ms), output=out,
                            outcome=outcome, error=error, latency_ms=ms, tokens_input=200,
                            tokens_output=40)
                sub_at += timedelta(milliseconds=ms + 300)
            span_record(agent=a, span_id=sid, phase="finish",
                        now=at + timedelta(milliseconds=task_ms),
                        output="All 5 checkout tests pass after the rounding fix." * 200,
                        outcome="ok", latency_ms=task_ms, tokens_input=900, tokens_output=240)
            at += timedelta(milliseconds=task_ms + 400)
        at += timedelta(minutes=3)  # the human reads and answers
    return subs
