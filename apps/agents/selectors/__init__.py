"""Reads for the live control room: overview, agents list, agent page, activity feed.

Views and the realtime consumers both build their context here, so a pushed fragment is
rendered from exactly the data the page would show. Every function keeps its query count
independent of the number of rows (select_related, subquery annotations, one aggregate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.agents.kinds import KIND_RE
from apps.agents.models import (
    ATTENTION_STATUSES,
    FINISHED_STATUSES,
    Agent,
    AgentCommand,
    AgentEvent,
    AgentStatus,
    AgentTask,
    ApprovalRequest,
    ApprovalStatus,
)
from apps.agents.selectors.feed import (
    EVENT_FAMILIES,
    FEED_PAGE_SIZE,
    FeedFilters,
    decorate_event,
    describe_event,
    event_for_feed,
    feed,
    feed_agents,
    kind_matches,
)
from apps.agents.selectors.scope import agents_in, events_in
from apps.agents.selectors.traces import (
    agent_trace_summary,
    fmt_ms,
    fmt_tokens,
    latency_class,
    latest_agent_event_id,
    span_turn,
)
from apps.agents.selectors.waterfall import (
    OUTCOMES,
    TraceFilters,
    live_turn,
    session_strip,
    session_turns,
    span_detail,
    spawning_turn,
    trace_page,
)
from apps.projects.models import Project
from apps.telemetry.selectors import (
    Usage,
    usage_annotations,
    usage_by_turn,
    usage_today,
    usage_totals,
)

OVERVIEW_CARD_LIMIT = 60
ATTENTION_LIMIT = 12
LIST_PAGE_SIZE = 50
TIMELINE_LIMIT = 40

# Which statuses come first on the overview grid: the ones a human acts on, then the busy ones.
STATUS_RANK = {
    AgentStatus.ERROR: 0,
    AgentStatus.BLOCKED: 1,
    AgentStatus.OFFLINE: 2,
    AgentStatus.WORKING: 3,
    AgentStatus.IDLE: 4,
    AgentStatus.SLEEPING: 5,
    AgentStatus.STOPPED: 6,
}

LIST_SORTS = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "status": ("status_rank", "name", "id"),
    "heartbeat": ("-last_heartbeat_at", "id"),
    "-heartbeat": ("last_heartbeat_at", "id"),
    "since": ("status_since", "id"),
    "created": ("-created_at", "-id"),
}
LIST_SORT_LABELS = {
    "name": "Name A–Z",
    "-name": "Name Z–A",
    "status": "Needs attention first",
    "heartbeat": "Recent heartbeat",
    "-heartbeat": "Oldest heartbeat",
    "since": "Longest in status",
    "created": "Newest",
}


# --- scope --------------------------------------------------------------------------------


def _with_card_fields(qs: QuerySet[Agent]) -> QuerySet[Agent]:
    children = (
        Agent.objects.filter(parent=OuterRef("pk"))
        .order_by()
        .values("parent")
        .annotate(c=Count("id"))
        .values("c")
    )
    return qs.select_related("project", "current_task").annotate(
        sub_agent_count=Coalesce(Subquery(children, output_field=IntegerField()), Value(0)),
        status_rank=Case(
            *[When(status=s, then=Value(r)) for s, r in STATUS_RANK.items()],
            default=Value(9),
            output_field=IntegerField(),
        ),
    )


def human_duration(seconds: float) -> str:
    """The same wording as static/js/app.js, which takes over ticking in the browser."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m = s // 60
    if m < 60:
        return f"{m}m {s % 60}s"
    h = m // 60
    if h < 48:
        return f"{h}h {m % 60}m"
    return f"{h // 24}d {h % 24}h"


def human_ago(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 5:
        return "just now"
    if s < 60:
        return f"{s}s ago"
    m = s // 60
    if m < 60:
        return f"{m}m ago"
    h = m // 60
    if h < 48:
        return f"{h}h {m % 60}m ago"
    return f"{h // 24}d ago"


def decorate_agents(agents: Any, now: Any = None) -> list[Agent]:
    """Pre-formats what every card and row prints (link, times), so a page of 60 cards does
    not pay for a URL reversal and two date filters per agent in the template."""
    now = now or timezone.now()
    rows = list(agents)
    for a in rows:
        a.url = f"/agents/{a.pk}/"
        a.since_iso = a.status_since.isoformat() if a.status_since else ""
        a.since_text = (
            human_duration((now - a.status_since).total_seconds()) if a.status_since else ""
        )
        hb = a.last_heartbeat_at
        a.heartbeat_iso = hb.isoformat() if hb else ""
        a.heartbeat_text = human_ago((now - hb).total_seconds()) if hb else ""
        if hasattr(a, "usage_calls"):
            a.usage = Usage(cost_usd=a.usage_cost_usd, calls=a.usage_calls,
                            unknown=a.usage_unknown)
            a.tokens_text = fmt_tokens(a.usage_tokens) if a.usage_calls else "—"
    return rows


def agent_card(agent_id: int) -> Agent | None:
    """One agent with everything its card or table row shows (for pushed fragments)."""
    qs = _with_card_fields(Agent.objects.filter(pk=agent_id)).annotate(**usage_annotations())
    rows = decorate_agents(qs[:1])
    return rows[0] if rows else None


# --- overview -----------------------------------------------------------------------------
def status_counts(project: Project | None) -> list[dict[str, Any]]:
    rows = dict(
        agents_in(project)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [
        {"status": s.value, "label": s.label, "count": rows.get(s.value, 0)}
        for s in sorted(AgentStatus, key=lambda s: STATUS_RANK[s])
    ]


# What a person can act on now comes first: an agent waiting for a human (a permission prompt,
# a question, an approval), then erroring ones, then blocked for other reasons; offline last.
WAITING_FOR_HUMAN = (Q(status=AgentStatus.BLOCKED)
                     & (Q(status_reason__istartswith="waiting for")
                        | Q(status_reason__icontains="permission")
                        | Q(status_reason__icontains="approval")))
ATTENTION_RANK = Case(
    When(WAITING_FOR_HUMAN, then=Value(0)),
    When(status=AgentStatus.ERROR, then=Value(1)),
    When(status=AgentStatus.BLOCKED, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


def attention_agents(project: Project | None, limit: int = ATTENTION_LIMIT,
                     statuses: tuple[str, ...] = ATTENTION_STATUSES) -> list[Agent]:
    """Blocked, erroring and offline agents: waiting for a human first, then erroring, then
    blocked for other reasons, offline last; longest-waiting first within each."""
    qs = _with_card_fields(agents_in(project).filter(status__in=statuses))
    qs = qs.annotate(attention_rank=ATTENTION_RANK)
    return decorate_agents(qs.order_by("attention_rank", "status_since", "id")[:limit])


def attention_groups(project: Project | None, counts: list[dict[str, Any]]) -> dict[str, Any]:
    """The strip's two groups: what a person can act on now (waiting for a human, erroring,
    blocked), and offline agents apart, collapsed under their count, so forty quiet sessions
    never push a fresh permission prompt out of sight. Two queries at most."""
    by_status = {c["status"]: c["count"] for c in counts}
    offline_total = by_status.get(AgentStatus.OFFLINE, 0)
    acting_total = by_status.get(AgentStatus.BLOCKED, 0) + by_status.get(AgentStatus.ERROR, 0)
    acting = attention_agents(project, statuses=(AgentStatus.BLOCKED, AgentStatus.ERROR)) \
        if acting_total else []
    offline = attention_agents(project, statuses=(AgentStatus.OFFLINE,)) if offline_total else []
    return {
        "attention": acting,
        "attention_acting_total": acting_total,
        "attention_offline": offline,
        "attention_offline_total": offline_total,
        "attention_total": acting_total + offline_total,
    }


# The overview's cards: what a person can act on, then the live ones; offline and stopped
# sessions last, so a page of stale sessions never pushes a live one past the card limit.
CARD_RANK = Case(
    When(WAITING_FOR_HUMAN, then=Value(0)),
    When(status=AgentStatus.ERROR, then=Value(1)),
    When(status=AgentStatus.BLOCKED, then=Value(2)),
    When(status=AgentStatus.WORKING, then=Value(3)),
    When(status=AgentStatus.IDLE, then=Value(4)),
    When(status=AgentStatus.SLEEPING, then=Value(5)),
    When(status=AgentStatus.OFFLINE, then=Value(6)),
    default=Value(7),
    output_field=IntegerField(),
)


def overview_cards(project: Project | None, limit: int = OVERVIEW_CARD_LIMIT) -> list[Agent]:
    qs = _with_card_fields(agents_in(project)).annotate(card_rank=CARD_RANK)
    return decorate_agents(qs.order_by("card_rank", "name", "id")[:limit])


def overview(project: Project | None) -> dict[str, Any]:
    counts = status_counts(project)
    total = sum(c["count"] for c in counts)
    return {
        **overview_usage(project),
        **attention_groups(project, counts),
        "counts": counts,
        "total": total,
        "cards": overview_cards(project) if total else [],
        "card_limit": OVERVIEW_CARD_LIMIT,
        "version": latest_event_id(project),
    }


def overview_usage(project: Project | None) -> dict[str, Any]:
    """Today's tokens and cost per project, since midnight in the server's time zone."""
    rows = usage_today(project)
    return {
        "usage_today": rows,
        "usage_today_total": sum((r["usage"] for r in rows), Usage()),
        "usage_tz": timezone.get_current_timezone_name(),
    }


def latest_event_id(project: Project | None = None) -> int:
    """Version of aggregate fragments (counts, attention strip): the newest event id overall.
    Any later id is newer, so the global maximum (one primary-key index probe) serves every
    project scope."""
    return AgentEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


# A report this recent counts as "connected" even if it came before the page was opened.
CONNECTED_WITHIN = timedelta(minutes=5)


def connect_status(project: Project, *, opened: datetime) -> dict[str, Any]:
    """What the "Connect an agent" page says about the project's reports: `waiting` (no agent
    has reported), `connected` (one reported after `opened`, the page's first render, or within
    CONNECTED_WITHIN of it) or `earlier` (reports, but none recent). Every report of an agent
    (register, event, heartbeat, OTLP) moves its last_heartbeat_at, so the newest one is the
    project's last report; its time in milliseconds is the fragment's version."""
    agent = (
        Agent.objects.filter(project=project, last_heartbeat_at__isnull=False)
        .order_by("-last_heartbeat_at", "-pk")
        .only("id", "name", "kind", "last_heartbeat_at")
        .first()
    )
    if agent is None:
        return {"connect_state": "waiting", "report_agent": None, "report_version": 0}
    at = agent.last_heartbeat_at
    agent.url = f"/agents/{agent.pk}/"
    return {
        "connect_state": "connected" if at >= opened - CONNECTED_WITHIN else "earlier",
        "report_agent": agent,
        "report_version": int(at.timestamp() * 1000),
    }


# --- agents list ---------------------------------------------------------------------------
@dataclass
class ListFilters:
    status: str = ""
    kind: str = ""
    model: str = ""
    label: str = ""
    owner: int | None = None
    q: str = ""
    sort: str = "status"
    page: int = 1
    archived: bool = False

    @classmethod
    def from_query(cls, query: Any) -> ListFilters:
        status = query.get("status", "")
        kind = query.get("kind", "")
        sort = query.get("sort", "status")
        try:
            page = max(1, int(query.get("page", "1")))
        except (TypeError, ValueError):
            page = 1
        return cls(
            status=status if status in AgentStatus.values or status == "attention" else "",
            kind=kind if KIND_RE.match(kind or "") and len(kind) <= 40 else "",
            # Any text: a model nobody runs simply matches no agent.
            model=(query.get("model", "") or "").strip()[:150],
            label=(query.get("label", "") or "").strip()[:60],
            owner=_int_or_none(query.get("owner", "")),
            q=(query.get("q", "") or "").strip()[:100],
            sort=sort if sort in LIST_SORTS else "status",
            page=page,
            archived=query.get("archived", "") == "1",
        )

    def as_query(self, **override: Any) -> dict[str, Any]:
        values = {"status": self.status, "kind": self.kind, "model": self.model,
                  "label": self.label, "owner": self.owner, "q": self.q,
                  "sort": self.sort,
                  "archived": "1" if self.archived else ""}
        values.update(override)
        return {k: v for k, v in values.items() if v not in ("", None)}


def agent_list(project: Project | None, filters: ListFilters) -> Page:
    qs = _with_card_fields(agents_in(project, archived=filters.archived))
    if filters.status == "attention":
        qs = qs.filter(status__in=ATTENTION_STATUSES)
    elif filters.status:
        qs = qs.filter(status=filters.status)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.label:
        qs = qs.filter(label=filters.label)
    if filters.owner is not None:
        qs = qs.filter(owner_id=filters.owner)
    if filters.q:
        qs = qs.filter(
            Q(name__icontains=filters.q)
            | Q(label__icontains=filters.q)
            | Q(model__icontains=filters.q)
            | Q(external_id__icontains=filters.q)
            | Q(current_task__title__icontains=filters.q)
        )
    qs = qs.annotate(**usage_annotations()).order_by(*LIST_SORTS[filters.sort])
    page = Paginator(qs, LIST_PAGE_SIZE).get_page(filters.page)
    page.object_list = decorate_agents(page.object_list)
    return page


@dataclass
class ListFacets:
    models: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    owners: list[tuple[int, str]] = field(default_factory=list)


def list_facets(project: Project | None, limit: int = 1000) -> ListFacets:
    """The list's model, label and owner filters: what the agents in scope have, one query."""
    rows = (agents_in(project, archived=None).order_by()
            .values_list("model", "label", "owner_id", "owner__username").distinct()[:limit])
    models, labels, owners = set(), set(), {}
    for model, label, owner_id, username in rows:
        models.add(model)
        labels.add(label)
        if owner_id is not None:
            owners[owner_id] = username
    return ListFacets(models=sorted(m for m in models if m), labels=sorted(x for x in labels if x),
                      owners=sorted(owners.items(), key=lambda o: o[1].lower()))


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def archive_counts(project: Project | None) -> dict[str, int]:
    """For the list's archive controls: finished agents still listed, and archived ones."""
    return agents_in(project, archived=None).aggregate(
        finished=Count("id", filter=Q(archived_at__isnull=True, status__in=FINISHED_STATUSES)),
        archived=Count("id", filter=Q(archived_at__isnull=False)),
    )


# --- agent page ----------------------------------------------------------------------------
def agent_for_page(agent_id: int) -> Agent | None:
    """The agent for its page and live head: with the permission prompts waiting for a decision
    (remote approval) and the last commands with their delivery state."""
    rows = decorate_agents(
        _with_card_fields(
            Agent.objects.filter(pk=agent_id, project__archived=False)
        ).select_related("parent", "owner")[:1]
    )
    if not rows:
        return None
    agent = rows[0]
    agent.waiting_approvals = list(ApprovalRequest.objects.filter(
        agent=agent, status=ApprovalStatus.PENDING, expires_at__gt=timezone.now()).order_by("id"))
    agent.recent_commands = list(AgentCommand.objects.filter(agent=agent).order_by("-id")[:5])
    return agent


def agent_timeline(
    agent: Agent, *, before: int | None = None, limit: int = TIMELINE_LIMIT
) -> list[AgentEvent]:
    qs = AgentEvent.objects.filter(agent=agent).only(
        "id", "kind", "data", "ts", "actor_label", "agent_id", "project_id"
    )
    if before:
        qs = qs.filter(id__lt=before)
    events = list(qs.order_by("-id")[:limit])
    for e in events:
        decorate_event(e)
    return events


def agent_tasks(agent: Agent, limit: int = 20) -> list[AgentTask]:
    return list(AgentTask.objects.filter(agent=agent).order_by("-created_at", "-id")[:limit])


def tree_ids(nodes: list[TreeNode]) -> list[int]:
    ids: list[int] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        ids.append(node.agent.pk)
        stack.extend(node.children)
    return ids


def agent_usage_panel(agent: Agent, tree: list[TreeNode]) -> dict[str, Any]:
    """The agent's own token and cost totals, its sub-agents' (the tree the page shows) and
    both together, and its newest turns: three aggregate queries."""
    sub_ids = tree_ids(tree)
    own = usage_totals(agent_ids=[agent.pk])
    subs = usage_totals(agent_ids=sub_ids) if sub_ids else None
    return {
        "own": own,
        "subs": subs,
        "together": own + subs if subs is not None else own,
        "turns": usage_by_turn(agent_id=agent.pk),
    }


@dataclass
class TreeNode:
    agent: Agent
    children: list[TreeNode] = field(default_factory=list)


def sub_agent_tree(agent: Agent, max_depth: int = 6, limit: int = 200) -> list[TreeNode]:
    """Descendants, one query per level (depth is bounded; rows are not)."""
    roots: list[TreeNode] = []
    level = {agent.pk: roots}
    seen = {agent.pk}
    count = 0
    for _ in range(max_depth):
        if not level or count >= limit:
            break
        rows = list(
            Agent.objects.filter(parent_id__in=list(level))
            .only("id", "name", "kind", "status", "model", "parent_id", "version")
            .order_by("name", "id")[: limit - count]
        )
        nxt: dict[int, list[TreeNode]] = {}
        for row in rows:
            if row.pk in seen:  # a parent loop in bad data must not hang the page
                continue
            seen.add(row.pk)
            node = TreeNode(row)
            level[row.parent_id].append(node)
            nxt[row.pk] = node.children
            count += 1
        level = nxt
    return roots


__all__ = [
    "agents_in",
    "events_in",
    "EVENT_FAMILIES",
    "FEED_PAGE_SIZE",
    "FeedFilters",
    "OUTCOMES",
    "TraceFilters",
    "live_turn",
    "session_strip",
    "session_turns",
    "span_detail",
    "spawning_turn",
    "trace_page",
    "agent_trace_summary",
    "agent_usage_panel",
    "decorate_event",
    "describe_event",
    "event_for_feed",
    "feed",
    "feed_agents",
    "fmt_ms",
    "fmt_tokens",
    "kind_matches",
    "latency_class",
    "latest_agent_event_id",
    "span_turn",
]
