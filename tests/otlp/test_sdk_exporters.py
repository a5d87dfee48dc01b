"""The real OpenTelemetry SDK exporters send to the running platform over HTTP: logs, traces
and metrics with Claude Code's, Codex's, Gemini CLI's and the GenAI conventions' names, in
protobuf (the SDK's OTLP/HTTP exporters, gzip too) and in OTLP/JSON."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.trace import Status, StatusCode

from apps.agents.models import Agent, AgentEvent, ToolSpan
from apps.otlp.models import Counter
from apps.telemetry.models import TokenUsage
from tests.conftest import make_key
from tests.otlp.emitters import CUMULATIVE, Emitter, resource

pytestmark = pytest.mark.django_db(transaction=True)
CC = "com.anthropic.claude_code.events"


@pytest.fixture
def key(live, project) -> str:
    return make_key(project)


@pytest.mark.parametrize("encoding, gzip", [("protobuf", False), ("protobuf", True),
                                            ("json", False)])
def test_claude_code_events_and_metrics(live, key, encoding, gzip) -> None:
    e = Emitter(live.url, key, resource("claude-code", **{"team": "payments",
                                                           "user.email": "ana@example.com"}),
                encoding=encoding, gzip=gzip)
    sid = f"cc-{encoding}-{gzip}"
    common = {"session.id": sid, "user.email": "ana@example.com"}
    e.event(CC, "claude_code.user_prompt", {**common, "event.name": "user_prompt",
                                            "prompt_length": "12"})
    e.event(CC, "claude_code.api_request", {
        **common, "event.name": "api_request", "model": "claude-sonnet-4-5",
        "input_tokens": 1200, "output_tokens": 80, "cache_read_tokens": 15000,
        "cache_creation_tokens": 900, "cost_usd": 0.0139, "duration_ms": 2100,
        "request_id": "req_a"})
    e.event(CC, "claude_code.tool_result", {
        **common, "event.name": "tool_result", "tool_name": "Bash", "tool_use_id": "toolu_1",
        "success": "false", "duration_ms": "2400", "error": "exit code 1"})
    e.event(CC, "claude_code.api_error", {
        **common, "event.name": "api_error", "model": "claude-sonnet-4-5",
        "error": "overloaded", "status_code": "529", "request_id": "req_b"})
    tokens = e.meter.create_counter("claude_code.token.usage", unit="tokens")
    tokens.add(1200, {**common, "type": "input", "model": "claude-sonnet-4-5"})
    tokens.add(80, {**common, "type": "output", "model": "claude-sonnet-4-5"})
    assert all(status == 200 for status in e.flush())
    e.shutdown()

    agent = Agent.objects.get(external_id=sid)
    assert (agent.kind, agent.model) == ("claude-code", "claude-sonnet-4-5")
    assert agent.metadata["labels"] == {"team": "payments"}
    assert agent.metadata["otel"]["user.email"] == "ana@example.com"
    usage = TokenUsage.objects.get(agent=agent)
    assert (usage.key, usage.tokens_input, usage.tokens_output, usage.tokens_cache_read,
            usage.tokens_cache_write) == ("req_a", 1200, 80, 15000, 900)
    assert (usage.cost_source, float(usage.cost_usd)) == ("client", 0.0139)
    assert usage.cost_list_usd is not None and usage.cost_list_usd > 0  # the table's, kept
    span = ToolSpan.objects.get(agent=agent)
    assert (span.span_id, span.tool_name, span.outcome, span.latency_ms, span.error) == \
        ("toolu_1", "Bash", "error", 2400, "exit code 1")
    kinds = list(AgentEvent.objects.filter(agent=agent).values_list("kind", flat=True))
    assert kinds.count("span.finished") == 1 and kinds.count("agent.error") == 1
    error = AgentEvent.objects.get(agent=agent, kind="agent.error")
    assert "overloaded (HTTP 529)" in error.data["message"]
    totals = {c.attributes["type"]: c.total for c in Counter.objects.filter(
        agent=agent, name="claude_code.token.usage")}
    assert totals == {"input": 1200, "output": 80}


def test_codex_and_gemini_events(live, key) -> None:
    codex = Emitter(live.url, key, resource("codex_exec"), encoding="json")
    attrs = {"conversation.id": "conv-1", "model": "gpt-5.1"}
    codex.event("codex_otel", "codex.sse_event", {
        **attrs, "event.name": "codex.sse_event", "event.kind": "response.completed",
        "input_token_count": 1000, "cached_token_count": 600, "output_token_count": 300,
        "reasoning_token_count": 100, "response.id": "resp_1"})
    codex.event("codex_otel", "codex.tool_result", {
        **attrs, "event.name": "codex.tool_result", "tool_name": "shell", "call_id": "call_1",
        "duration_ms": 40, "success": "true"})
    assert codex.flush() == [200]
    gemini = Emitter(live.url, key, resource("gemini-cli"), encoding="protobuf")
    g = {"session.id": "gem-1"}
    gemini.event("gemini-cli", "gemini_cli.api_response", {
        **g, "event.name": "gemini_cli.api_response", "model": "gemini-2.5-pro",
        "input_token_count": 500, "cached_content_token_count": 200,
        "output_token_count": 50, "thoughts_token_count": 20, "duration_ms": 900})
    gemini.event("gemini-cli", "gemini_cli.tool_call", {
        **g, "event.name": "gemini_cli.tool_call", "function_name": "read_file",
        "duration_ms": 12, "success": True, "decision": "accept"})
    gemini.flush()
    codex.shutdown()
    gemini.shutdown()

    cx = Agent.objects.get(external_id="conv-1")
    assert cx.kind == "codex"
    u = TokenUsage.objects.get(agent=cx)
    assert (u.key, u.tokens_input, u.tokens_cache_read, u.tokens_output, u.tokens_reasoning) \
        == ("resp_1", 400, 600, 200, 100)
    assert ToolSpan.objects.get(agent=cx).span_id == "call_1"
    gm = Agent.objects.get(external_id="gem-1")
    assert gm.kind == "gemini-cli"
    u = TokenUsage.objects.get(agent=gm)
    assert (u.tokens_input, u.tokens_cache_read, u.tokens_output, u.tokens_reasoning) == \
        (300, 200, 50, 20)
    assert ToolSpan.objects.get(agent=gm).tool_name == "read_file"


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_genai_spans(live, key, encoding) -> None:
    """Copilot, OpenCode's AI SDK or any instrumented agent: gen_ai.* spans."""
    e = Emitter(live.url, key, resource("copilot-chat"), encoding=encoding)
    conv = {"gen_ai.conversation.id": f"copilot-{encoding}"}
    with e.tracer.start_as_current_span("invoke_agent copilot", attributes={
            **conv, "gen_ai.operation.name": "invoke_agent"}):
        with e.tracer.start_as_current_span("chat gpt-4.1", attributes={
                **conv, "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1",
                "gen_ai.response.id": "chatcmpl-1", "gen_ai.usage.input_tokens": 2000,
                "gen_ai.usage.cache_read.input_tokens": 1500, "gen_ai.usage.output_tokens": 90}):
            pass
        with e.tracer.start_as_current_span("execute_tool run_in_terminal", attributes={
                **conv, "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "run_in_terminal", "gen_ai.tool.call.id": "call_x"}) as s:
            s.set_status(Status(StatusCode.ERROR, "command failed"))
    e.flush()
    e.shutdown()
    agent = Agent.objects.get(external_id=f"copilot-{encoding}")
    assert agent.kind == "copilot" and agent.model == "gpt-4.1"
    u = TokenUsage.objects.get(agent=agent)
    assert (u.key, u.tokens_input, u.tokens_cache_read, u.tokens_output) == \
        ("chatcmpl-1", 500, 1500, 90)
    span = ToolSpan.objects.get(agent=agent)
    assert (span.span_id, span.outcome, span.error) == ("call_x", "error", "command failed")
    assert span.latency_ms is not None


def test_cumulative_metrics_survive_a_restart_of_the_agent(live, key) -> None:
    """A cumulative counter grows 100 → 150; the agent restarts (its counter starts again at
    0, with a new start time) and counts 30: the total is 180, not 30, 150 or 280."""
    attrs = {"session.id": "cum-1", "type": "added"}
    first = Emitter(live.url, key, resource("claude-code"), temporality=CUMULATIVE)
    lines = first.meter.create_counter("claude_code.lines_of_code.count")
    lines.add(100, attrs)
    first.flush()
    lines.add(50, attrs)
    first.flush()
    first.flush()  # the same cumulative value again: nothing new
    first.shutdown()
    restarted = Emitter(live.url, key, resource("claude-code"), temporality=CUMULATIVE)
    restarted.meter.create_counter("claude_code.lines_of_code.count").add(30, attrs)
    restarted.flush()
    restarted.shutdown()
    counter = Counter.objects.get(name="claude_code.lines_of_code.count")
    assert counter.total == 180 and counter.cumulative


def test_delta_metrics_add_up_and_a_replayed_point_counts_once(live, key) -> None:
    e = Emitter(live.url, key, resource("claude-code"), encoding="json")
    cost = e.meter.create_counter("claude_code.cost.usage", unit="USD")
    cost.add(0.25, {"session.id": "delta-1", "model": "m"})
    e.flush()
    cost.add(0.5, {"session.id": "delta-1", "model": "m"})
    data = e.reader.get_metrics_data()
    assert e.post_json("metrics", encode_metrics(data)) == 200
    assert e.post_json("metrics", encode_metrics(data)) == 200  # an exporter's retry
    e.shutdown()
    assert Counter.objects.get(name="claude_code.cost.usage").total == pytest.approx(0.75)


def test_ai_sdk_spans(live, key) -> None:
    """OpenCode's and other Vercel AI SDK agents' spans: `ai.streamText.doStream` with
    `ai.usage.*` and `ai.toolCall` with its name and id."""
    e = Emitter(live.url, key, resource("opencode"), encoding="json")
    conv = {"session.id": "ses_ai_sdk"}
    with e.tracer.start_as_current_span("ai.streamText", attributes=conv):
        with e.tracer.start_as_current_span("ai.streamText.doStream", attributes={
                **conv, "gen_ai.response.id": "msg_ai_1", "gen_ai.request.model": "gpt-5",
                "ai.usage.promptTokens": 900, "ai.usage.completionTokens": 40}):
            pass
        with e.tracer.start_as_current_span("ai.toolCall", attributes={
                **conv, "ai.toolCall.name": "bash", "ai.toolCall.id": "call_ai_1"}):
            pass
    assert e.flush() == [200]
    e.shutdown()
    agent = Agent.objects.get(external_id="ses_ai_sdk")
    assert agent.kind == "opencode"
    u = TokenUsage.objects.get(agent=agent)
    assert (u.key, u.tokens_input, u.tokens_output, u.model) == ("msg_ai_1", 900, 40, "gpt-5")
    span = ToolSpan.objects.get(agent=agent)
    assert (span.span_id, span.tool_name, span.outcome) == ("call_ai_1", "bash", "ok")
