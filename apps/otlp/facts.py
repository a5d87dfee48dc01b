"""What the mappers make of OTLP records: plain facts in Switchboard's terms, independent of
the emitter. apps/otlp/store.py writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass
class Session:
    """The agent a record belongs to: one coding session (Claude Code's session.id, Codex's
    conversation.id, gen_ai.conversation.id, ...). The same id the hooks report, so one
    session is one agent whichever path reports it."""

    external_id: str
    kind: str = "custom"
    name: str = ""
    model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    anonymous: bool = False  # no session id in the record: one agent per service and machine


@dataclass
class ToolCall:
    session: Session
    span_id: str  # the agent's tool call id (tool_use_id, call_id) or the OTLP span id
    tool_name: str
    finished_at: datetime
    latency_ms: int | None = None
    outcome: str = "ok"  # ok | error | denied | cancelled
    error: str = ""
    started_at: datetime | None = None


@dataclass
class Usage:
    session: Session
    key: str  # the request id (Claude Code request_id, gen_ai.response.id), else the record's
    model: str
    tokens: dict[str, int]
    ts: datetime
    cost_usd: Decimal | None = None  # the client's own figure; it wins over the price table

    @property
    def keyed_by_record(self) -> bool:
        """The emitter gave no request id (Codex's sse_event has none): the key is the record's
        digest, which nothing else reporting the same call can know."""
        return self.key.startswith("otlp:")


@dataclass
class Error:
    session: Session
    message: str
    ts: datetime
    key: str


@dataclass
class Activity:
    """A sign that the session is working now (a prompt, a request, a tool call)."""

    session: Session
    ts: datetime


@dataclass
class Point:
    """One metric data point of a counter (Sum) or a histogram's sum and count."""

    session: Session
    name: str
    unit: str
    attributes: dict[str, Any]
    value: float
    count: int | None  # histograms: observations, else None
    cumulative: bool
    start_ns: int
    time_ns: int


@dataclass
class Facts:
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    errors: list[Error] = field(default_factory=list)
    activity: list[Activity] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, why: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 5 and why not in self.reasons:
            self.reasons.append(why)

    def sessions(self) -> dict[str, Session]:
        out: dict[str, Session] = {}
        for group in (self.tool_calls, self.usage, self.errors, self.activity, self.points):
            for fact in group:
                known = out.setdefault(fact.session.external_id, fact.session)
                if not known.model and fact.session.model:
                    known.model = fact.session.model
        return out
