"""A realistic week for the analytics tests and screenshots: agents on several models call
tools, spend tokens, get blocked and unblocked, and alerts open and close, spread over time.
Rows are written in bulk (as the ingest path would have), then rolled up."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.agents.models import Agent, AgentEvent, AgentStatus
from apps.telemetry.models import CostSource, TokenUsage
from apps.telemetry.prices import usage_cost

MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "gpt-5", "gemini-2.5-pro")
TOOLS = ("Bash", "Read", "Edit", "Grep", "WebFetch", "Write")


def seed(project, *, agents: int = 6, days: float = 7, per_hour: int = 12, seed: int = 1,
         now: datetime | None = None) -> list[Agent]:
    rng = random.Random(seed)
    now = now or timezone.now()
    start = now - timedelta(days=days)
    crew = [Agent.objects.create(project=project, name=f"agent-{i + 1}", kind="claude-code",
                                 model=MODELS[i % len(MODELS)], external_id=f"seed-{seed}-{i}",
                                 status=AgentStatus.WORKING, status_since=start)
            for i in range(agents)]
    events, usage = [], []
    hours = int(days * 24)
    for h in range(hours):
        busy = 0.4 + 0.6 * (9 <= (start + timedelta(hours=h)).hour <= 18)
        for agent in crew:
            for n in range(int(per_hour * busy * rng.uniform(0.5, 1.5))):
                ts = start + timedelta(hours=h, seconds=rng.randrange(3600))
                tool = rng.choice(TOOLS)
                latency = int(rng.lognormvariate(5.5 if tool != "WebFetch" else 7.5, 1.0))
                outcome = "error" if rng.random() < 0.06 else "ok"
                events.append(AgentEvent(project=project, agent=agent, kind="span.finished",
                                         ts=ts, data={"tool_name": tool, "latency_ms": latency,
                                                      "outcome": outcome}))
                tokens = {"tokens_input": rng.randrange(200, 4000),
                          "tokens_output": rng.randrange(50, 1500),
                          "tokens_cache_read": rng.randrange(5000, 60000),
                          "tokens_cache_write": rng.randrange(0, 3000)}
                cost = usage_cost(model=agent.model, tokens=tokens)
                usage.append(TokenUsage(project=project, agent=agent, key=f"{agent.pk}-{h}-{n}",
                                        model=agent.model, ts=ts, cost_usd=cost.usd,
                                        cost_source=cost.source or CostSource.UNKNOWN, **tokens))
            if rng.random() < 0.15:  # blocked for a while, waiting for permission
                blocked_at = start + timedelta(hours=h, minutes=rng.randrange(50))
                back = blocked_at + timedelta(minutes=rng.randrange(1, 25))
                events += [
                    AgentEvent(project=project, agent=agent, kind="agent.blocked", ts=blocked_at,
                               data={"from": "working", "to": "blocked",
                                     "since": (blocked_at - timedelta(minutes=30)).isoformat()}),
                    AgentEvent(project=project, agent=agent, kind="agent.unblocked", ts=back,
                               data={"from": "blocked", "to": "working",
                                     "since": blocked_at.isoformat()}),
                ]
                if rng.random() < 0.5:
                    events.append(AgentEvent(project=project, agent=agent, kind="alert.opened",
                                             ts=blocked_at, data={}))
                    events.append(AgentEvent(project=project, agent=agent, kind="alert.resolved",
                                             ts=back, data={}))
    AgentEvent.objects.bulk_create(events, batch_size=2000)
    TokenUsage.objects.bulk_create(usage, batch_size=2000)
    assert all(isinstance(u.cost_usd, Decimal) for u in usage[:1])
    return crew
