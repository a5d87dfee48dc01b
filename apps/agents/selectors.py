"""Reads for the live control room: overview, agents list, agent page, activity feed.

Views and the realtime consumers both build their context here, so a pushed fragment is
rendered from exactly the data the page would show. Every function keeps its query count
independent of the number of rows (select_related, subquery annotations, one aggregate).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from apps.agents.models import (
    ATTENTION_STATUSES,
    Agent,
    AgentEvent,
    AgentKind,
    AgentStatus,
    AgentTask,
    SpanOutcome,
    ToolSpan,
)
from apps.projects.models import Project

OVERVIEW_CARD_LIMIT = 60
ATTENTION_LIMIT = 12
LIST_PAGE_SIZE = 50
FEED_PAGE_SIZE = 50
TIMELINE_LIMIT = 40
SPAN_LIMIT = 400

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


# --- scope --------------------------------------------------------------------------------
def agents_in(project: Project | None) -> QuerySet[Agent]:
    """Agents of one project, or of every active project when `project` is None."""
    qs = Agent.objects.all()
    if project is not None:
        return qs.filter(project=project)
    return qs.filter(project__archived=False)


def events_in(project: Project | None) -> QuerySet[AgentEvent]:
    qs = AgentEvent.objects.all()
    if project is not None:
        return qs.filter(project=project)
    return qs.filter(project__archived=False)


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
    from django.utils import timezone

    now = now or timezone.now()
    rows = list(agents)
    for a in rows:
        a.url = f"/agents/{a.pk}/"
        a.since_iso = a.status_since.isoformat() if a.status_since else ""
        a.since_text = human_duration((now - a.status_since).total_seconds()) if a.status_since else ""
        hb = a.last_heartbeat_at
        a.heartbeat_iso = hb.isoformat() if hb else ""
        a.heartbeat_text = human_ago((now - hb).total_seconds()) if hb else ""
    return rows


def agent_card(agent_id: int) -> Agent | None:
    """One agent with everything its card or table row shows (for pushed fragments)."""
    rows = decorate_agents(_with_card_fields(Agent.objects.filter(pk=agent_id))[:1])
    return rows[0] if rows else None


# --- overview -----------------------------------------------------------------------------
def status_counts(project: Project | None) -> list[dict[str, Any]]:
    rows = dict(
        agents_in(project).order_by().values("status").annotate(n=Count("id")).values_list(
            "status", "n"
        )
    )
    return [
        {"status": s.value, "label": s.label, "count": rows.get(s.value, 0)}
        for s in sorted(AgentStatus, key=lambda s: STATUS_RANK[s])
    ]


def attention_agents(project: Project | None, limit: int = ATTENTION_LIMIT) -> list[Agent]:
    """Blocked, erroring and offline agents, longest-waiting first."""
    qs = _with_card_fields(agents_in(project).filter(status__in=ATTENTION_STATUSES))
    return decorate_agents(qs.order_by("status_since", "id")[:limit])


def overview_cards(project: Project | None, limit: int = OVERVIEW_CARD_LIMIT) -> list[Agent]:
    qs = _with_card_fields(agents_in(project))
    return decorate_agents(qs.order_by("status_rank", "name", "id")[:limit])


def overview(project: Project | None) -> dict[str, Any]:
    counts = status_counts(project)
    total = sum(c["count"] for c in counts)
    attention = attention_agents(project) if total else []
    return {
        "counts": counts,
        "total": total,
        "attention": attention,
        "attention_total": sum(c["count"] for c in counts if c["status"] in ATTENTION_STATUSES),
        "cards": overview_cards(project) if total else [],
        "card_limit": OVERVIEW_CARD_LIMIT,
        "version": latest_event_id(project),
    }


def latest_event_id(project: Project | None = None) -> int:
    """Version of aggregate fragments (counts, attention strip): the newest event id overall.
    Any later id is newer, so the global maximum (one primary-key index probe) serves every
    project scope."""
    return AgentEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- agents list ---------------------------------------------------------------------------
@dataclass
class ListFilters:
    status: str = ""
    kind: str = ""
    q: str = ""
    sort: str = "status"
    page: int = 1

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
            kind=kind if kind in AgentKind.values else "",
            q=(query.get("q", "") or "").strip()[:100],
            sort=sort if sort in LIST_SORTS else "status",
            page=page,
        )

    def as_query(self, **override: Any) -> dict[str, Any]:
        values = {"status": self.status, "kind": self.kind, "q": self.q, "sort": self.sort}
        values.update(override)
        return {k: v for k, v in values.items() if v not in ("", None)}


def agent_list(project: Project | None, filters: ListFilters) -> Page:
    qs = _with_card_fields(agents_in(project))
    if filters.status == "attention":
        qs = qs.filter(status__in=ATTENTION_STATUSES)
    elif filters.status:
        qs = qs.filter(status=filters.status)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.q:
        qs = qs.filter(
            Q(name__icontains=filters.q)
            | Q(model__icontains=filters.q)
            | Q(external_id__icontains=filters.q)
            | Q(current_task__title__icontains=filters.q)
        )
    qs = qs.order_by(*LIST_SORTS[filters.sort])
    page = Paginator(qs, LIST_PAGE_SIZE).get_page(filters.page)
    page.object_list = decorate_agents(page.object_list)
    return page


# --- agent page ----------------------------------------------------------------------------
def agent_for_page(agent_id: int) -> Agent | None:
    rows = decorate_agents(
        _with_card_fields(Agent.objects.filter(pk=agent_id, project__archived=False))
        .select_related("parent")[:1]
    )
    return rows[0] if rows else None


def agent_timeline(agent: Agent, *, before: int | None = None, limit: int = TIMELINE_LIMIT
                   ) -> list[AgentEvent]:
    qs = AgentEvent.objects.filter(agent=agent).only(
        "id", "kind", "data", "ts", "actor_label", "agent_id", "project_id")
    if before:
        qs = qs.filter(id__lt=before)
    events = list(qs.order_by("-id")[:limit])
    for e in events:
        decorate_event(e)
    return events


def agent_tasks(agent: Agent, limit: int = 20) -> list[AgentTask]:
    return list(AgentTask.objects.filter(agent=agent).order_by("-created_at", "-id")[:limit])


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


# --- traces --------------------------------------------------------------------------------
def latency_class(ms: int | None) -> str:
    if ms is None:
        return "lat-pending"
    if ms < 1000:
        return "lat-fast"
    if ms < 5000:
        return "lat-slow"
    return "lat-bad"


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def cache_share(s: Any) -> float | None:
    """Cache reads as a share of all prompt tokens (fresh input + cache read + cache write)."""
    prompt = s["tokens_input"] + s["tokens_cache_read"] + s["tokens_cache_write"]
    return _pct(s["tokens_cache_read"], prompt)


TOKEN_FIELDS = ("tokens_input", "tokens_output", "tokens_cache_read", "tokens_cache_write",
                "tokens_reasoning")


def _zero() -> dict[str, Any]:
    return {"spans": 0, "errors": 0, "latency_ms": 0, **{f: 0 for f in TOKEN_FIELDS}}


def _add(acc: dict[str, Any], span: ToolSpan) -> None:
    acc["spans"] += 1
    acc["errors"] += span.outcome == SpanOutcome.ERROR
    acc["latency_ms"] += span.latency_ms or 0
    for f in TOKEN_FIELDS:
        acc[f] += getattr(span, f)


def fmt_ms(ms: int | None) -> str:
    if ms is None:
        return "running"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms // 60_000}m {ms % 60_000 // 1000}s"


def fmt_tokens(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def _turn(turn: int, spans: list[ToolSpan]) -> dict[str, Any]:
    """A turn's spans with their latency bars (relative to the turn's slowest span) and the
    turn's totals. Pushed turns and the page use this one function, so they look the same."""
    slowest = max([s.latency_ms or 0 for s in spans] or [0])
    totals = _zero()
    for s in spans:
        s.lat_class = latency_class(s.latency_ms)
        s.latency_label = fmt_ms(s.latency_ms)
        s.bar_pct = max(2, round(100 * (s.latency_ms or 0) / slowest)) if slowest else 2
        prompt = s.tokens_input + s.tokens_cache_read + s.tokens_cache_write
        s.cache_pct = _pct(s.tokens_cache_read, prompt)
        s.prompt_tokens = fmt_tokens(prompt)
        s.output_tokens = fmt_tokens(s.tokens_output)
        s.is_error = s.outcome == SpanOutcome.ERROR or bool(s.error)
        _add(totals, s)
    totals["cache_pct"] = cache_share(totals)
    totals["latency_label"] = fmt_ms(totals["latency_ms"])
    totals["prompt_tokens"] = fmt_tokens(
        totals["tokens_input"] + totals["tokens_cache_read"] + totals["tokens_cache_write"])
    totals["output_tokens"] = fmt_tokens(totals["tokens_output"])
    version = max((int(x.updated_at.timestamp() * 1000) for x in spans), default=0)
    return {"turn": turn, "spans": spans, "totals": totals, "version": version,
            "lat_class": latency_class(totals["latency_ms"] if spans else None)}


def agent_trace(agent: Agent, limit: int = SPAN_LIMIT) -> dict[str, Any]:
    """Spans grouped by turn (newest turn first) with per-turn totals, per-tool totals and the
    session cache hit rate. The newest `limit` spans are shown; totals cover the session."""
    spans = list(ToolSpan.objects.filter(agent=agent).order_by("-turn", "-id")[:limit])
    spans.reverse()
    grouped: OrderedDict[int, list[ToolSpan]] = OrderedDict()
    for s in sorted(spans, key=lambda x: (x.turn, x.started_at or x.created_at, x.id)):
        grouped.setdefault(s.turn, []).append(s)
    turns = [_turn(n, rows) for n, rows in grouped.items()]
    summary = agent_trace_summary(agent)
    summary.update({"turns": list(reversed(turns)), "shown": len(spans),
                    "truncated": summary["session"]["spans"] > len(spans)})
    return summary


def agent_trace_summary(agent: Agent) -> dict[str, Any]:
    """Per-tool totals and the session totals with its cache hit rate: one aggregate query."""
    sums = {f: Coalesce(Sum(f), Value(0)) for f in TOKEN_FIELDS}
    tools = list(
        ToolSpan.objects.filter(agent=agent)
        .order_by()
        .values("tool_name")
        .annotate(
            spans=Count("id"),
            errors=Count("id", filter=Q(outcome=SpanOutcome.ERROR)),
            latency_ms=Coalesce(Sum("latency_ms"), Value(0)),
            **sums,
        )
        .order_by("-latency_ms", "tool_name")
    )
    session = _zero()
    for row in tools:
        row["avg_label"] = fmt_ms(round(row["latency_ms"] / row["spans"])) if row["spans"] else ""
        row["latency_label"] = fmt_ms(row["latency_ms"])
        row["cache_pct"] = cache_share(row)
        row["prompt_tokens"] = fmt_tokens(
            row["tokens_input"] + row["tokens_cache_read"] + row["tokens_cache_write"])
        row["output_tokens"] = fmt_tokens(row["tokens_output"])
        for k in list(session):
            session[k] += row[k]
    session["cache_pct"] = cache_share(session)
    session["latency_label"] = fmt_ms(session["latency_ms"])
    session["prompt_tokens"] = fmt_tokens(
        session["tokens_input"] + session["tokens_cache_read"] + session["tokens_cache_write"])
    session["output_tokens"] = fmt_tokens(session["tokens_output"])
    shown = min(session["spans"], SPAN_LIMIT)
    return {"tools": tools, "session": session, "shown": shown,
            "truncated": session["spans"] > shown}


def trace_turn(agent: Agent, turn: int) -> dict[str, Any] | None:
    spans = list(ToolSpan.objects.filter(agent=agent, turn=turn).order_by("started_at", "id"))
    return _turn(turn, spans) if spans else None


def span_turn(agent_id: int, span_id: str) -> int | None:
    return (
        ToolSpan.objects.filter(agent_id=agent_id, span_id=span_id)
        .values_list("turn", flat=True)
        .first()
    )


def latest_agent_event_id(agent: Agent) -> int:
    return AgentEvent.objects.filter(agent=agent).order_by().aggregate(m=Max("id"))["m"] or 0


# --- activity feed -------------------------------------------------------------------------
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


def feed(project: Project | None, filters: FeedFilters, limit: int = FEED_PAGE_SIZE
         ) -> tuple[list[AgentEvent], int | None]:
    """One keyset page, newest first, and the id to continue before (None at the end)."""
    qs = events_in(project).select_related("agent", "project").only(
        "id", "kind", "data", "ts", "actor_label", "agent_id", "project_id", "agent__name",
        "project__name", "project__slug")
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
    e = (AgentEvent.objects.select_related("agent", "project")
         .only("id", "kind", "data", "ts", "actor_label", "agent_id", "project_id", "agent__name",
               "project__name", "project__slug")
         .filter(pk=event_id).first())
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
    elif e.kind in WARN_KINDS or (e.kind == "agent.status_changed"
                                  and data.get("to") in ("blocked", "error", "offline")):
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
    simple = {
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
