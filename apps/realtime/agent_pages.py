"""Consumers of the control-room pages: overview, agents list, agent page, activity feed.

Each renders the partials its page renders (templates/agents/*), so a pushed fragment and a
reloaded page are the same HTML. Fragments that every socket of a page type shares are
rendered once per event and process (see `event_cache_key`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from django.template.loader import render_to_string

from apps.agents import selectors
from apps.agents.models import Priority
from apps.agents.views import WORKFLOW_SIGNALS
from apps.realtime.consumers import LivePageConsumer
from apps.realtime.groups import agent_group

# Kinds that can change what an agent card or row shows.
AGENT_FAMILIES = ("agent.", "task.", "command.", "workflow.")
# A deleted row never comes back: its tombstone outranks any version it had.
TOMBSTONE_VERSION = 2**53 - 1


def _family_ok(message: dict[str, Any]) -> bool:
    return str(message.get("kind", "")).startswith(AGENT_FAMILIES)


def _deleted_version(event_id: int) -> int:
    event = selectors.event_for_feed(event_id)
    data = event.data if event is not None and isinstance(event.data, dict) else {}
    try:
        return int(data.get("version") or TOMBSTONE_VERSION)
    except (TypeError, ValueError):
        return TOMBSTONE_VERSION


def tombstone(tag: str, element_id: str, version: int) -> str:
    return f'<{tag} id="{element_id}" data-deleted data-version="{version}"></{tag}>'


class OverviewConsumer(LivePageConsumer):
    page = "overview"
    shows_heartbeats = True

    def wants(self, message: dict[str, Any]) -> bool:
        return _family_ok(message)

    def event_cache_key(self, message: dict[str, Any]) -> Hashable:
        return self.project.pk if self.project is not None else "all"

    def render_snapshot(self) -> str:
        from apps.agents.views import overview_context

        return render_to_string(
            "agents/overview.html#live",
            overview_context(self.project, site_url=self.site_url(), snapshot=True),
        )

    def render_event(self, message: dict[str, Any]) -> str:
        counts = selectors.status_counts(self.project)
        ctx = {
            "counts": counts,
            "total": sum(c["count"] for c in counts),
            **selectors.attention_groups(self.project, counts),
            "version": message["event_id"],
            "current_project": self.project,
            "show_project": self.project is None,
        }
        parts = [
            render_to_string("agents/overview.html#counts", ctx),
            render_to_string("agents/overview.html#attention", ctx),
        ]
        if message.get("kind") == "agent.usage":
            ctx.update(selectors.overview_usage(self.project))
            parts.append(render_to_string("agents/overview.html#usage", ctx))
        agent_id = message.get("agent_id")
        if message.get("kind") == "agent.deleted" and agent_id:
            parts.append(
                tombstone("article", f"agent-{agent_id}", _deleted_version(message["event_id"]))
            )
        elif agent_id:
            agent = selectors.agent_card(agent_id)
            if agent is not None:
                parts.append(render_to_string("agents/_card.html", {**ctx, "agent": agent}))
        return "".join(parts)


class AgentsListConsumer(LivePageConsumer):
    page = "agents-list"
    shows_heartbeats = True

    def wants(self, message: dict[str, Any]) -> bool:
        return bool(message.get("agent_id")) and _family_ok(message)

    def event_cache_key(self, message: dict[str, Any]) -> Hashable:
        return self.project is None

    def render_snapshot(self) -> str:
        filters = selectors.ListFilters.from_query(self.query)
        return render_to_string(
            "agents/list.html#rows",
            {
                "page_obj": selectors.agent_list(self.project, filters),
                "show_project": self.project is None,
                "version": selectors.latest_event_id(self.project),
                "snapshot": True,
            },
        )

    def render_event(self, message: dict[str, Any]) -> str:
        agent_id = message["agent_id"]
        if message.get("kind") == "agent.deleted":
            return tombstone("tr", f"agent-row-{agent_id}", _deleted_version(message["event_id"]))
        agent = selectors.agent_card(agent_id)
        if agent is None:
            return ""
        # Rows that are not on this page are ignored by live.js (no data-live-insert).
        return render_to_string(
            "agents/_row.html", {"agent": agent, "show_project": self.project is None}
        )


class AgentDetailConsumer(LivePageConsumer):
    page = "agent-detail"
    shows_heartbeats = True

    def setup(self) -> bool:
        self.agent_id = int(self.scope["url_route"]["kwargs"]["pk"])
        agent = selectors.agent_for_page(self.agent_id)
        if agent is None:
            return False
        self.project_ids = {agent.project_id}
        return True

    def live_groups(self) -> list[str]:
        # Its own events, its sub-agents' (publish_event sends those to the parent's group
        # too), and the project's heartbeat pulses.
        return [agent_group(self.agent_id), *self.pulse_groups()]

    def wants(self, message: dict[str, Any]) -> bool:
        return self.agent_id in (message.get("agent_id"), message.get("parent_id"))

    def shows_heartbeat_of(self, agent_id: int) -> bool:
        return agent_id == self.agent_id

    def event_cache_key(self, message: dict[str, Any]) -> Hashable:
        # Admins see the action buttons in the header; everything else is the same.
        return (self.agent_id, self.is_admin)

    def render_snapshot(self) -> str:
        from apps.agents.views import agent_context

        agent = selectors.agent_for_page(self.agent_id)
        if agent is None:
            return self._gone(TOMBSTONE_VERSION)
        return render_to_string(
            "agents/detail_live.html", agent_context(agent, can_act=self.is_admin, snapshot=True)
        )

    def _gone(self, version: int) -> str:
        return (
            f'<header id="agent-head" class="agent-head is-deleted" data-version="{version}">'
            '<div class="agent-head-main"><h1>This agent was deleted</h1>'
            '<p class="muted">Its tasks, spans and events went with it.</p></div></header>'
        )

    def render_event(self, message: dict[str, Any]) -> str:
        event_id = message["event_id"]
        kind = str(message.get("kind", ""))
        if kind == "agent.deleted":
            return self._gone(TOMBSTONE_VERSION)
        agent = selectors.agent_for_page(self.agent_id)
        if agent is None:
            return ""
        ctx: dict[str, Any] = {
            "agent": agent,
            "can_act": self.is_admin,
            "version": event_id,
            "priorities": Priority.choices,
            "workflows_enabled": True,
            "signals": WORKFLOW_SIGNALS,
        }
        parts = [render_to_string("agents/detail.html#head", ctx)]
        new_tokens = kind in ("agent.usage", "span.finished")
        from_sub_agent = message.get("agent_id") != self.agent_id
        tree = selectors.sub_agent_tree(agent) if new_tokens or from_sub_agent else None
        if new_tokens:
            # New tokens of this agent or of a sub-agent: the totals panel.
            ctx["usage"] = selectors.agent_usage_panel(agent, tree)
            parts.append(render_to_string("agents/detail.html#usage", ctx))
        if from_sub_agent:
            # A sub-agent's event: the tree (and the count in the head) may have changed, and
            # a span of it sits in the turn of ours that spawned it.
            ctx["tree"] = tree
            parts.append(render_to_string("agents/detail.html#tree", ctx))
            if kind.startswith("span."):
                turn = selectors.spawning_turn(int(message["agent_id"]))
                t = selectors.live_turn(agent, turn) if turn is not None else None
                if t is not None:
                    parts.append(render_to_string(
                        "agents/_turn.html", {"agent": agent, "t": t, "live_ids": True}))
            return "".join(parts)
        event = selectors.event_for_feed(event_id)
        if event is not None:
            parts.append(
                render_to_string("agents/_event.html", {"e": event, "insert_into": "#timeline"})
            )
        if kind.startswith(("task.", "workflow.")):
            ctx["tasks"] = selectors.agent_tasks(agent)
            parts.append(render_to_string("agents/detail.html#tasks", ctx))
        if kind.startswith("span.") and event is not None:
            span_id = (event.data or {}).get("span_id") if isinstance(event.data, dict) else None
            turn = selectors.span_turn(agent.pk, str(span_id)) if span_id else None
            t = selectors.live_turn(agent, turn) if turn is not None else None
            if t is not None:
                parts.append(render_to_string(
                    "agents/_turn.html", {"agent": agent, "t": t, "live_ids": True}))
            ctx["trace"] = selectors.agent_trace_summary(agent)
            parts.append(render_to_string("agents/detail.html#trace_summary", ctx))
            ctx.update(strip=selectors.session_strip(selectors.session_turns(agent)),
                       live_ids=True, filters=selectors.TraceFilters(), filter_query="")
            parts.append(render_to_string("agents/detail.html#strip", ctx))
        return "".join(parts)


class ActivityConsumer(LivePageConsumer):
    page = "activity"

    def setup(self) -> bool:
        self.filters = selectors.FeedFilters.from_query(self.query)
        return True

    def wants(self, message: dict[str, Any]) -> bool:
        if self.filters.agent and message.get("agent_id") != self.filters.agent:
            return False
        return selectors.kind_matches(self.filters.kind, str(message.get("kind", "")))

    def event_cache_key(self, message: dict[str, Any]) -> Hashable:
        return self.project is None

    def render_snapshot(self) -> str:
        events, _ = selectors.feed(
            self.project, selectors.FeedFilters(kind=self.filters.kind, agent=self.filters.agent)
        )
        return render_to_string(
            "agents/activity_live.html",
            {
                "events": list(reversed(events)),
                "show_agent": True,
                "show_project": self.project is None,
            },
        )

    def render_event(self, message: dict[str, Any]) -> str:
        event = selectors.event_for_feed(message["event_id"])
        if event is None:
            return ""
        return render_to_string(
            "agents/_event.html",
            {
                "e": event,
                "insert_into": "#feed",
                "show_agent": True,
                "show_project": self.project is None,
            },
        )
