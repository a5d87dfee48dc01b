"""The plan a Linear agent session shows: a checklist Linear renders beside the activities,
set (replaced whole) with `agentSessionUpdate(input: {plan})`.

Steps are `{"content": str, "status": "pending" | "inProgress" | "completed" | "canceled"}`.
The plan is built from what Switchboard knows, never invented: handing the issue to an agent,
the coding agent's own to-do list when it keeps one (Claude Code's TodoWrite, OpenCode's
todowrite, Codex's update_plan) or else one step for the work itself, and posting the result.
"""

from __future__ import annotations

import json
from typing import Any

from apps.linear.models_agent import LinearAgentSession, SessionState

PENDING, IN_PROGRESS, COMPLETED, CANCELED = "pending", "inProgress", "completed", "canceled"
STATUSES = (PENDING, IN_PROGRESS, COMPLETED, CANCELED)
# Tools whose input is the agent's to-do list, and where in that input the list is.
TODO_TOOLS = {"todowrite": "todos", "update_plan": "plan"}
MAX_STEPS = 50
_STATUS = {"pending": PENDING, "in_progress": IN_PROGRESS, "inprogress": IN_PROGRESS,
           "active": IN_PROGRESS, "completed": COMPLETED, "done": COMPLETED,
           "cancelled": CANCELED, "canceled": CANCELED}
ENDED = (SessionState.ERROR, SessionState.STOPPED)


def todos_from_tool(tool_name: str, input_text: str) -> list[dict[str, str]] | None:
    """The steps of a to-do tool call, or None when the call is not one (or its input was
    clipped or malformed: the last good list stays)."""
    key = TODO_TOOLS.get((tool_name or "").lower())
    if key is None:
        return None
    try:
        data = json.loads(input_text or "")
    except ValueError:
        return None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    steps = []
    for item in items[:MAX_STEPS]:
        if not isinstance(item, dict):
            continue
        text = str(item.get("content") or item.get("step") or "").strip()
        if not text:
            continue
        status = _STATUS.get(str(item.get("status") or "").lower().replace("-", "_"), PENDING)
        steps.append({"content": text[:300], "status": status})
    return steps


def session_plan(session: LinearAgentSession, agent_name: str = "") -> list[dict[str, str]]:
    """The whole plan for the session's state now."""
    state = session.state
    ended = state in ENDED
    done = state == SessionState.COMPLETE
    issue = session.issue_identifier or "the issue"
    routed = session.agent_id is not None
    steps = [{"content": f"Hand {issue} to a Switchboard agent",
              "status": COMPLETED if routed else (CANCELED if ended else IN_PROGRESS)}]
    todos: list[dict[str, Any]] = [t for t in (session.plan_todos or []) if isinstance(t, dict)]
    if todos:
        for todo in todos:
            status = todo.get("status") if todo.get("status") in STATUSES else PENDING
            if ended and status in (PENDING, IN_PROGRESS):
                status = CANCELED
            steps.append({"content": str(todo.get("content") or "")[:300], "status": status})
    elif routed:
        steps.append({"content": f"{agent_name or 'The agent'} works on {issue}",
                      "status": COMPLETED if done else (CANCELED if ended else IN_PROGRESS)})
    steps.append({"content": "Post the result here",
                  "status": COMPLETED if done else (CANCELED if ended else PENDING)})
    return steps
