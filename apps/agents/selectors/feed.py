"""Activity feed and timeline reads, and the one-line wording of each event kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from apps.agents.models import Agent, AgentEvent
from apps.agents.selectors.scope import agents_in, events_in
from apps.agents.selectors.traces import fmt_ms
from apps.projects.models import Project

FEED_PAGE_SIZE = 50

# Families offered by the activity filter; an exact kind also works (?kind=agent.blocked).
EVENT_FAMILIES = [
    ("agent.", "Agent status"),
    ("task.", "Tasks"),
    ("span.", "Tool spans"),
    ("command.", "Commands"),
    ("workflow.", "Workflows"),
    ("hook.", "Client hooks"),
    ("linear.", "Linear"),
    ("alert.", "Alerts"),
]


@dataclass
class FeedFilters:
    kind: str = ""
    agent: int | None = None
    before: int | None = None

    @classmethod
    def from_query(cls, query: Any) -> FeedFilters:
        def as_int(v: Any) -> int | None:
            try:
                n = int(v)
            except (TypeError, ValueError):
                return None
            return n if n > 0 else None

        kind = (query.get("kind", "") or "").strip()[:64]
        return cls(kind=kind, agent=as_int(query.get("agent")), before=as_int(query.get("before")))

    def as_query(self, **override: Any) -> dict[str, Any]:
        values = {"kind": self.kind, "agent": self.agent}
        values.update(override)
        return {k: v for k, v in values.items() if v not in ("", None)}

    def matches(self, event: AgentEvent) -> bool:
        if self.agent and event.agent_id != self.agent:
            return False
        return kind_matches(self.kind, event.kind)


def kind_matches(wanted: str, kind: str) -> bool:
    if not wanted:
        return True
    if wanted.endswith("."):
        return kind.startswith(wanted)
    return kind == wanted


def _feed_rows(qs: QuerySet[AgentEvent]) -> QuerySet[AgentEvent]:
    """Just what a feed row shows (templates/agents/_event.html), agent and project included."""
    return qs.select_related("agent", "project").only(
        "id", "kind", "data", "ts", "actor_label", "agent_id", "project_id", "agent__name",
        "project__name", "project__slug",
    )


def feed(
    project: Project | None, filters: FeedFilters, limit: int = FEED_PAGE_SIZE
) -> tuple[list[AgentEvent], int | None]:
    """One keyset page, newest first, and the id to continue before (None at the end)."""
    qs = _feed_rows(events_in(project))
    if filters.agent:
        qs = qs.filter(agent_id=filters.agent)
    if filters.kind.endswith("."):
        qs = qs.filter(kind__startswith=filters.kind)
    elif filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.before:
        qs = qs.filter(id__lt=filters.before)
    rows = list(qs.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    for e in rows:
        decorate_event(e)
    return rows, (rows[-1].pk if more and rows else None)


def event_for_feed(event_id: int) -> AgentEvent | None:
    e = _feed_rows(AgentEvent.objects.filter(pk=event_id)).first()
    if e is not None:
        decorate_event(e)
    return e


def feed_agents(project: Project | None, limit: int = 300) -> list[Agent]:
    return list(agents_in(project).only("id", "name").order_by("name", "id")[:limit])


# --- event wording -------------------------------------------------------------------------
BAD_KINDS = {"agent.error", "task.failed", "agent.offline", "alert.opened"}
WARN_KINDS = {"agent.blocked", "agent.idle"}
OK_KINDS = {"task.completed", "agent.unblocked", "agent.online", "alert.resolved", "agent.woke"}


def decorate_event(e: AgentEvent) -> AgentEvent:
    """Adds what a timeline row shows: the one-line summary, the kind family and a tone."""
    e.summary = describe_event(e)
    e.family = e.kind.split(".", 1)[0]
    e.ts_iso = e.ts.isoformat()
    e.ts_text = e.ts.strftime("%b %-d, %H:%M:%S")
    e.agent_url = f"/agents/{e.agent_id}/" if e.agent_id else ""
    data = e.data if isinstance(e.data, dict) else {}
    if e.kind in BAD_KINDS or data.get("outcome") == "error":
        e.tone = "bad"
    elif e.kind in WARN_KINDS or (
        e.kind == "agent.status_changed" and data.get("to") in ("blocked", "error", "offline")
    ):
        e.tone = "warn"
    elif e.kind in OK_KINDS:
        e.tone = "ok"
    else:
        e.tone = ""
    return e


def describe_event(e: AgentEvent) -> str:
    """One line a human reads in a timeline; unknown kinds fall back to their data."""
    d = e.data if isinstance(e.data, dict) else {}

    def g(key: str) -> str:
        v = d.get(key)
        return "" if v is None else str(v)

    k = e.kind
    if k == "agent.status_changed":
        text = f"Status {g('from') or '?'} → {g('to') or '?'}"
        return f"{text}: {g('reason')}" if g("reason") else text
    if k == "agent.blocked":
        return f"Blocked: {g('reason')}" if g("reason") else "Blocked"
    if k == "agent.error":
        return f"Error: {g('message')}" if g("message") else "Error"
    if k == "agent.sleeping":
        return f"Went to sleep: {g('reason')}" if g("reason") else "Went to sleep"
    if k in ("task.assigned", "task.started"):
        verb = "Assigned" if k == "task.assigned" else "Started"
        return f"{verb} task “{g('title')}”" if g("title") else f"{verb} a task"
    if k == "task.completed":
        return f"Completed task: {g('result')}" if g("result") else "Completed a task"
    if k == "task.failed":
        return f"Task failed: {g('error')}" if g("error") else "Task failed"
    if k == "span.finished":
        ms = d.get("latency_ms")
        tail = f" in {fmt_ms(ms)}" if isinstance(ms, int) else ""
        outcome = " (error)" if g("outcome") == "error" else ""
        return f"{g('tool_name') or 'Tool'} finished{tail}{outcome}"
    if k == "span.started":
        return f"{g('tool_name') or 'Tool'} started"
    if k == "command.created":
        return f"Command sent: {g('action')}"
    if k == "agent.heartbeat" and g("message"):
        return g("message")
    if k == "agent.deleted" and g("name"):
        return f"Deleted {g('name')}" + (f" and {d['sub_agents']} sub-agent(s)"
                                         if d.get("sub_agents") else "")
    if k == "agents.archived":
        return f"Archived {d.get('agents', 0)} finished agent(s)"
    simple = {
        "agent.archived": "Archived (out of the lists; history kept)",
        "agent.unarchived": "Back in the lists",
        "agent.registered": "Registered",
        "agent.unblocked": "Unblocked",
        "agent.woke": "Woke up",
        "agent.idle": "No heartbeat while working",
        "agent.offline": "Went offline",
        "agent.online": "Came back online",
        "agent.deleted": "Deleted",
        "agent.heartbeat": "Heartbeat",
        "command.acked": "Command acknowledged",
    }
    if k in simple:
        return simple[k]
    for key in ("message", "title", "reason", "summary", "name"):
        if g(key):
            return g(key)[:200]
    return ""
