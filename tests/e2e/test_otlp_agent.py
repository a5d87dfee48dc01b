"""An agent that reports only over OpenTelemetry, seen in Chromium: its kind, labels, tool
calls, usage with the client's cost, and its counters on the agent page."""

from __future__ import annotations

import pytest

from apps.agents.models import Agent
from tests.conftest import login_browser, make_key, screenshot
from tests.otlp.emitters import Emitter, resource

pytestmark = [pytest.mark.browser, pytest.mark.live]
CC = "com.anthropic.claude_code.events"


def test_an_otlp_only_session_reads_well(live, browser, page, viewer, project) -> None:
    key = make_key(project)
    e = Emitter(live.url, key, resource("claude-code", team="payments",
                                        **{"user.email": "ana@example.com"}), encoding="json")
    who = {"session.id": "3f9a1c2e-otel", "user.email": "ana@example.com"}
    e.event(CC, "claude_code.user_prompt", {**who, "event.name": "user_prompt"})
    for n, (tool, ok, ms) in enumerate([("Bash", "true", 2400), ("Read", "true", 12),
                                        ("Edit", "true", 40), ("Bash", "false", 8100)]):
        e.event(CC, "claude_code.api_request", {
            **who, "event.name": "api_request", "model": "claude-sonnet-4-5",
            "input_tokens": 1200 + n, "output_tokens": 80 * (n + 1), "cache_read_tokens": 15000,
            "cache_creation_tokens": 900, "cost_usd": 0.012 + n / 1000, "request_id": f"req_{n}"})
        e.event(CC, "claude_code.tool_result", {
            **who, "event.name": "tool_result", "tool_name": tool, "tool_use_id": f"toolu_{n}",
            "success": ok, "duration_ms": str(ms), **({} if ok == "true" else
                                                     {"error": "exit code 1"})})
    lines = e.meter.create_counter("claude_code.lines_of_code.count")
    lines.add(120, {**who, "type": "added"})
    lines.add(34, {**who, "type": "removed"})
    e.meter.create_counter("claude_code.commit.count").add(2, who)
    e.meter.create_counter("claude_code.active_time.total", unit="s").add(754, who)
    assert e.flush() == [200, 200]  # logs, metrics
    e.shutdown()
    agent = Agent.objects.get(external_id="3f9a1c2e-otel")

    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/agents/{agent.pk}/")
    page.wait_for_selector("text=Reported by the agent's telemetry")
    head = page.text_content(".agent-head")
    assert "Claude Code" in head and "claude-sonnet-4-5" in head
    figures = page.text_content(".otel-figures")
    assert "Lines added" in figures and "120" in figures and "12m 34s" in figures
    assert "$0.05" in page.text_content("#agent-usage")  # the client's own cost, summed
    screenshot(page, "agent-otlp-only")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "agent-otlp-only-phone")
