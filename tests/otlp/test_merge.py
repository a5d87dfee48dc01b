"""One session reported by the hooks and by OTLP is one agent, and each tool call and API
request in it is counted once, whichever report comes first — also for a sub-agent's calls,
which the hooks put on the sub-agent and OTLP on the session."""

from __future__ import annotations

import pytest

from apps.agents.models import Agent, AgentEvent, ToolSpan
from apps.telemetry.models import TokenUsage
from tests.otlp.emitters import claude_code_logs, otlp_json

pytestmark = pytest.mark.django_db
SID = "5f0c2c1e-session"


def hook(api, *events) -> None:
    r = api.post("/api/v1/events", {"events": list(events)}, format="json")
    assert r.status_code == 200 and all(x["status"] == "created" for x in r.json()["results"]), \
        r.json()


def register(api, ext: str, parent: str | None = None) -> None:
    data = {"name": ext, "kind": "claude-code", "external_id": ext,
            "metadata": {"client": "switchboard-claude-code-hook/test"}}
    if parent:
        data["parent_external_id"] = parent
    hook(api, {"type": "agent.register", "data": data})


def finished_events(span_id: str) -> int:
    return AgentEvent.objects.filter(kind="span.finished", data__span_id=span_id).count()


def test_a_tool_call_reported_by_both_is_the_hooks_span_counted_once(api, otlp) -> None:
    """The hook's span stands (with its input, output and latency); OTLP's report of the same
    call adds nothing, whichever comes first, so no order can finish a span twice."""
    register(api, SID)
    hook(api, {"type": "span.start", "agent_external_id": SID,
               "data": {"span_id": "toolu_1", "tool_name": "Bash"}},
         {"type": "span.finish", "agent_external_id": SID,
          "data": {"span_id": "toolu_1", "latency_ms": 2400, "outcome": "ok"}})
    hook(api, {"type": "span.start", "agent_external_id": SID,
               "data": {"span_id": "toolu_2", "tool_name": "Read"}})
    body = otlp_json(claude_code_logs(SID, events=[
        ("tool_result", {"tool_use_id": "toolu_1", "tool_name": "Bash", "success": "true",
                         "duration_ms": "2390"}),
        ("tool_result", {"tool_use_id": "toolu_2", "tool_name": "Read", "success": "true",
                         "duration_ms": "15"}),
        ("tool_result", {"tool_use_id": "toolu_3", "tool_name": "Grep", "success": "true",
                         "duration_ms": "9"}),
    ]))
    for _ in range(2):  # and an exporter's retry
        assert otlp.post("logs", body).status_code == 200
    # The hook finishes toolu_2 after OTLP reported it, and reports toolu_3 late (its spool).
    hook(api, {"type": "span.finish", "agent_external_id": SID,
               "data": {"span_id": "toolu_2", "latency_ms": 15, "outcome": "ok"}},
         {"type": "span.start", "agent_external_id": SID,
          "data": {"span_id": "toolu_3", "tool_name": "Grep"}},
         {"type": "span.finish", "agent_external_id": SID,
          "data": {"span_id": "toolu_3", "latency_ms": 9, "outcome": "ok"}})
    assert Agent.objects.count() == 1
    spans = {s.span_id: s for s in ToolSpan.objects.all()}
    assert set(spans) == {"toolu_1", "toolu_2", "toolu_3"}
    assert spans["toolu_1"].latency_ms == 2400  # the hook's own figure stands
    assert all(s.outcome == "ok" for s in spans.values())
    assert [finished_events(f"toolu_{n}") for n in (1, 2, 3)] == [1, 1, 1]


def test_an_otlp_only_sessions_tool_calls_are_spans_counted_once(otlp) -> None:
    body = otlp_json(claude_code_logs("otel-only", events=[
        ("tool_result", {"tool_use_id": "toolu_9", "tool_name": "Bash", "success": "false",
                         "duration_ms": "120", "error": "exit 2"})]))
    for _ in range(2):
        assert otlp.post("logs", body).status_code == 200
    span = ToolSpan.objects.get()
    assert (span.span_id, span.outcome, span.latency_ms, span.error) == ("toolu_9", "error",
                                                                         120, "exit 2")
    assert finished_events("toolu_9") == 1


def test_an_api_request_reported_by_both_is_one_usage_row_with_the_clients_cost(api,
                                                                             otlp) -> None:
    register(api, SID)
    hook(api, {"type": "usage", "agent_external_id": SID, "data": {
        "key": "req_1", "model": "claude-sonnet-4-5", "tokens_input": 1200,
        "tokens_output": 40, "tokens_cache_read": 15000, "tokens_cache_write": 900}})
    before = TokenUsage.objects.get()
    assert before.cost_source == "price_table"
    body = otlp_json(claude_code_logs(SID, events=[("api_request", {
        "request_id": "req_1", "model": "claude-sonnet-4-5", "input_tokens": 1200,
        "output_tokens": 80, "cache_read_tokens": 15000, "cache_creation_tokens": 900,
        "cost_usd": 0.0301})]))
    assert otlp.post("logs", body).status_code == 200
    row = TokenUsage.objects.get()
    assert row.tokens_output == 80  # the larger, final figure
    assert (row.cost_source, float(row.cost_usd)) == ("client", 0.0301)
    # The price table's figure is kept beside it, priced from the merged figures.
    assert row.cost_list_usd > before.cost_usd > 0
    # And the other order: OTLP first, then the hook's report of the same request.
    assert otlp.post("logs", otlp_json(claude_code_logs(SID, events=[("api_request", {
        "request_id": "req_2", "model": "claude-sonnet-4-5", "input_tokens": 5,
        "output_tokens": 7, "cost_usd": 0.002})]))).status_code == 200
    hook(api, {"type": "usage", "agent_external_id": SID, "data": {
        "key": "req_2", "model": "claude-sonnet-4-5", "tokens_input": 5, "tokens_output": 7}})
    row = TokenUsage.objects.get(key="req_2")
    assert TokenUsage.objects.count() == 2
    assert (row.cost_source, float(row.cost_usd)) == ("client", 0.002)


def test_a_sub_agents_calls_stay_on_the_sub_agent(api, otlp) -> None:
    register(api, SID)
    sub = f"{SID}:a1b2"
    register(api, sub, parent=SID)
    hook(api, {"type": "span.start", "agent_external_id": sub,
               "data": {"span_id": "toolu_sub", "tool_name": "Grep"}},
         {"type": "usage", "agent_external_id": sub, "data": {
             "key": "req_sub", "model": "claude-haiku-4-5", "tokens_input": 300,
             "tokens_output": 20}})
    body = otlp_json(claude_code_logs(SID, events=[
        ("tool_result", {"tool_use_id": "toolu_sub", "tool_name": "Grep", "success": "true",
                         "duration_ms": "31"}),
        ("api_request", {"request_id": "req_sub", "model": "claude-haiku-4-5",
                         "input_tokens": 300, "output_tokens": 20, "cost_usd": 0.0004}),
    ]))
    assert otlp.post("logs", body).status_code == 200
    sub_agent = Agent.objects.get(external_id=sub)
    # The span is the hook's to finish; the usage row gains Claude Code's own cost.
    assert list(ToolSpan.objects.values_list("agent", "outcome")) == [(sub_agent.pk, "pending")]
    assert list(TokenUsage.objects.values_list("agent", "cost_source")) == [
        (sub_agent.pk, "client")]
    assert finished_events("toolu_sub") == 0


def test_a_sub_agents_call_reported_first_by_otlp_moves_to_the_sub_agent(api, otlp) -> None:
    register(api, SID)
    sub = f"{SID}:c3d4"
    register(api, sub, parent=SID)
    assert otlp.post("logs", otlp_json(claude_code_logs(SID, events=[("api_request", {
        "request_id": "req_early", "model": "claude-haiku-4-5", "input_tokens": 300,
        "output_tokens": 20, "cost_usd": 0.0004})]))).status_code == 200
    hook(api, {"type": "usage", "agent_external_id": sub, "data": {
        "key": "req_early", "model": "claude-haiku-4-5", "tokens_input": 300,
        "tokens_output": 20}})
    sub_agent = Agent.objects.get(external_id=sub)
    assert list(TokenUsage.objects.values_list("agent", "cost_source")) == [
        (sub_agent.pk, "client")]


def test_otlp_does_not_take_over_a_hooked_sessions_status_or_errors(api, otlp) -> None:
    register(api, SID)
    hook(api, {"type": "agent.status", "agent_external_id": SID,
               "data": {"status": "blocked", "reason": "waiting for permission"}})
    body = otlp_json(claude_code_logs(SID, events=[
        ("user_prompt", {"prompt_length": "3"}),
        ("api_error", {"error": "overloaded", "status_code": "529"})]))
    assert otlp.post("logs", body).status_code == 200
    agent = Agent.objects.get()
    assert agent.status == "blocked"
    assert not AgentEvent.objects.filter(kind="agent.error").exists()


def test_an_archived_or_offline_session_comes_back_when_it_reports(otlp) -> None:
    from django.utils import timezone

    body = otlp_json(claude_code_logs("back-1", events=[("user_prompt", {})]))
    assert otlp.post("logs", body).status_code == 200
    Agent.objects.filter(external_id="back-1").update(status="offline",
                                                       archived_at=timezone.now())
    body = otlp_json(claude_code_logs("back-1", events=[("api_request", {
        "request_id": "req_back", "model": "m", "input_tokens": 1})]))
    assert otlp.post("logs", body).status_code == 200
    agent = Agent.objects.get(external_id="back-1")
    assert agent.archived_at is None and agent.status == "working"


def test_a_hooked_codex_sessions_usage_is_the_rollouts_alone(api, otlp) -> None:
    """Codex's sse_event has no response id and its hook keys a call by the rollout's running
    total: the two reports of one call cannot meet on a key, so on a session the hooks report
    the OTLP copy is dropped; a session without the hooks keeps it."""
    from tests.otlp.test_mappers import CODEX, codex_event, logs

    def completed(conversation: str) -> bytes:
        event = codex_event("codex.sse_event", **{
            "event.kind": "response.completed", "input_token_count": "2000",
            "output_token_count": "120", "cached_token_count": "1500",
            "reasoning_token_count": "20", "conversation.id": conversation})
        return logs(CODEX, event).SerializeToString()

    hook(api, {"type": "agent.register", "data": {
        "name": "billing", "kind": "codex", "external_id": "cx-hooked",
        "metadata": {"client": "switchboard-hooks/test"}}},
         {"type": "usage", "agent_external_id": "cx-hooked", "data": {
             "key": "cx-hooked:2120", "model": "fake-codex-1", "tokens_input": 500,
             "tokens_cache_read": 1500, "tokens_output": 100, "tokens_reasoning": 20}})
    for conversation in ("cx-hooked", "cx-alone"):
        assert otlp.post("logs", completed(conversation),
                         content_type="application/x-protobuf").status_code == 200
    assert list(TokenUsage.objects.filter(agent__external_id="cx-hooked")
                .values_list("key", flat=True)) == ["cx-hooked:2120"]
    alone = TokenUsage.objects.get(agent__external_id="cx-alone")
    assert (alone.tokens_input, alone.tokens_output, alone.agent.kind) == (500, 100, "codex")


def test_a_hooked_gemini_sessions_tool_calls_are_the_hooks_alone(api, otlp) -> None:
    """Gemini CLI's hooks and its tool_call event both lack the call id: on a session the hooks
    report, the OTLP copy would be a second span of the same call, so it is dropped."""
    from tests.otlp.test_mappers import GEMINI, SESSION, gemini_event, logs

    hook(api, {"type": "agent.register", "data": {
        "name": "billing", "kind": "gemini-cli", "external_id": SESSION,
        "metadata": {"client": "switchboard-hooks/test"}}},
         {"type": "span.start", "agent_external_id": SESSION,
          "data": {"span_id": "gemini-cli-1", "tool_name": "run_shell_command"}},
         {"type": "span.finish", "agent_external_id": SESSION,
          "data": {"span_id": "gemini-cli-1", "latency_ms": 40, "outcome": "ok"}})
    body = logs(GEMINI, gemini_event("gemini_cli.tool_call", function_name="run_shell_command",
                                     duration_ms=44, success=True, decision="accept"))
    assert otlp.post("logs", body.SerializeToString(),
                     content_type="application/x-protobuf").status_code == 200
    assert list(ToolSpan.objects.values_list("span_id", flat=True)) == ["gemini-cli-1"]
    assert finished_events("gemini-cli-1") == 1
