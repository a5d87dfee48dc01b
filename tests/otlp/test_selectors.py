"""The agent page shows what the agent's telemetry counted: lines, commits, pull requests,
active time (Claude Code's metrics), each summed over its series."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

from apps.agents.models import Agent
from apps.otlp.selectors import agent_figures
from tests.otlp.emitters import Emitter, otlp_json, resource

pytestmark = pytest.mark.django_db


def send_metrics(otlp) -> Agent:
    e = Emitter("http://127.0.0.1:9", otlp.key, resource("claude-code"), encoding="json")
    who = {"session.id": "fig-1"}
    lines = e.meter.create_counter("claude_code.lines_of_code.count")
    lines.add(120, {**who, "type": "added"})
    lines.add(30, {**who, "type": "removed"})
    e.meter.create_counter("claude_code.commit.count").add(2, who)
    e.meter.create_counter("claude_code.pull_request.count").add(1, who)
    active = e.meter.create_counter("claude_code.active_time.total", unit="s")
    active.add(300, {**who, "type": "user"})
    active.add(95, {**who, "type": "cli"})
    e.meter.create_counter("claude_code.token.usage").add(5000, {**who, "type": "input"})
    e.meter.create_counter("my_tool.widgets").add(3, who)
    r = otlp.post("metrics", otlp_json(encode_metrics(e.reader.get_metrics_data())))
    assert r.status_code == 200
    e.shutdown()
    return Agent.objects.get(external_id="fig-1")


def test_figures_are_labelled_summed_and_skip_tokens(otlp) -> None:
    agent = send_metrics(otlp)
    figures = [(f.label, f.display) for f in agent_figures(agent.pk)]
    assert figures == [("Lines added", "120"), ("Lines removed", "30"), ("Commits", "2"),
                       ("Pull requests", "1"), ("Active time", "6m 35s"),
                       ("my_tool.widgets", "3")]


def test_the_agent_page_shows_them(otlp, client, viewer) -> None:
    agent = send_metrics(otlp)
    client.force_login(viewer)
    page = client.get(f"/agents/{agent.pk}/").content.decode()
    assert "Reported by the agent" in page and "Lines added" in page and "6m 35s" in page
