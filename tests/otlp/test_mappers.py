"""The mappers on records shaped as the real CLIs send them (captured from Codex 0.171's
`[otel]` export; the live runs are tests/otlp/test_codex_cli.py)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from apps.otlp.mappers import map_logs, map_metrics, map_traces

CONVERSATION = "01a2500d-334a-7760-9611-0684726cd198"
CODEX = {"service.name": "codex_exec", "service.version": "0.171.0", "env": "test"}


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    out = []
    for k, v in attrs.items():
        if isinstance(v, bool):
            value = AnyValue(bool_value=v)
        elif isinstance(v, int):
            value = AnyValue(int_value=v)
        elif isinstance(v, float):
            value = AnyValue(double_value=v)
        else:
            value = AnyValue(string_value=str(v))
        out.append(KeyValue(key=k, value=value))
    return out


def logs(resource: dict[str, Any], *records: dict[str, Any], event_name: str = ""
         ) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend(kvs(resource))
    scope = rl.scope_logs.add()
    for attrs in records:
        record = scope.log_records.add(time_unix_nano=1_796_639_372_175_000_000,
                                       event_name=event_name)
        record.attributes.extend(kvs(attrs))
    return request


def codex_event(name: str, **attrs: Any) -> dict[str, Any]:
    return {"event.name": name, "event.timestamp": "2026-12-07T10:29:32.175Z",
            "conversation.id": CONVERSATION, "app.version": "0.171.0",
            "originator": "codex_exec", "terminal.type": "unknown", "model": "fake-codex-1",
            "slug": "fake-codex-1", **attrs}


def test_codex_usage_is_the_completed_response_with_tokens() -> None:
    facts = map_logs(logs(CODEX, codex_event("codex.sse_event", **{
        "event.kind": "response.completed", "duration_ms": "0"}), codex_event(
        "codex.sse_event", **{"event.kind": "response.completed", "input_token_count": "2000",
                              "output_token_count": "120", "cached_token_count": "1500",
                              "cache_write_token_count": "0", "reasoning_token_count": "20",
                              "tool_token_count": "2120", "ttft_ms": "0"}),
        event_name="event otel/src/events/session_telemetry.rs:1187"))
    [usage] = facts.usage
    assert usage.session.external_id == CONVERSATION and usage.session.kind == "codex"
    assert usage.keyed_by_record  # Codex sends no response id
    assert usage.tokens == {"tokens_input": 500, "tokens_output": 100, "tokens_cache_read": 1500,
                            "tokens_cache_write": 0, "tokens_reasoning": 20}


def test_a_codex_command_that_exits_non_zero_is_an_error() -> None:
    def result(call_id: str, code: int) -> dict[str, Any]:
        return codex_event("codex.tool_result", tool_result_seq="1", tool_name="exec_command",
                           call_id=call_id, duration_ms="33", success="true",
                           arguments='{"cmd": "x"}', output=(
                               f"Chunk ID: beedaf\nWall time: 0.0000 seconds\nProcess exited "
                               f"with code {code}\nOriginal token count: 2\nOutput:\nbroken\n"))

    ok, failed = map_logs(logs(CODEX, result("call_a", 0), result("call_b", 3))).tool_calls
    assert (ok.span_id, ok.outcome, ok.error, ok.latency_ms) == ("call_a", "ok", "", 33)
    assert (failed.span_id, failed.outcome, failed.error) == ("call_b", "error", "exit code 3")


def test_codex_traces_make_no_agent() -> None:
    """Codex's spans trace its Rust code; `thread.id` there is the OS thread, and the span with
    usage repeats the log event's figures without a conversation id."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(kvs({"service.name": "codex_exec"}))
    span = rs.scope_spans.add().spans.add(name="handle_responses", span_id=b"\x01" * 8,
                                          trace_id=b"\x02" * 16,
                                          start_time_unix_nano=1_796_639_372_000_000_000,
                                          end_time_unix_nano=1_796_639_372_100_000_000)
    span.attributes.extend(kvs({"thread.id": 3, "thread.name": "tokio-rt-worker",
                                "gen_ai.usage.input_tokens": "2000",
                                "gen_ai.usage.output_tokens": "120"}))
    assert not map_traces(request).sessions()


def test_thread_id_is_not_a_session() -> None:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(kvs({"service.name": "my-agent", "host.name": "vm"}))
    span = rs.scope_spans.add().spans.add(name="chat", span_id=b"\x01" * 8,
                                          trace_id=b"\x02" * 16)
    span.attributes.extend(kvs({"thread.id": 3, "gen_ai.usage.input_tokens": 10,
                                "gen_ai.usage.output_tokens": 5}))
    assert list(map_traces(request).sessions()) == ["otlp:my-agent:vm"]


def test_codex_metrics_without_a_conversation_are_dropped() -> None:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.extend(kvs(CODEX))
    metric = rm.scope_metrics.add().metrics.add(name="codex.tool.call")
    metric.sum.aggregation_temporality = 1
    metric.sum.is_monotonic = True
    point = metric.sum.data_points.add(as_int=2, time_unix_nano=1)
    point.attributes.extend(kvs({"tool": "exec_command", "success": "true"}))
    assert not map_metrics(request).points


# --- Gemini CLI 0.61 (GEMINI_TELEMETRY_*; live run in tests/otlp/test_gemini_cli.py) ---------
SESSION = "793ac5ee-df13-4f21-a238-21f547c0bbdb"
GEMINI = {"service.name": "gemini-cli", "service.version": "v20.20.2", "session.id": SESSION,
          "host.name": "vm"}


def gemini_event(name: str, **attrs: Any) -> dict[str, Any]:
    return {"session.id": SESSION, "installation.id": "a8870f19", "interactive": False,
            "auth_type": "gemini-api-key", "event.name": name,
            "event.timestamp": "2026-12-07T10:35:07.163Z", **attrs}


def test_a_gemini_call_is_counted_once_from_its_api_response() -> None:
    """Each call is reported twice: gemini_cli.api_response (no response id, every figure) and
    gen_ai.client.inference.operation.details (the response id, input and output only)."""
    facts = map_logs(logs(GEMINI, gemini_event(
        "gemini_cli.api_response", model="gemini-2.5-flash", duration_ms=65,
        input_token_count=3000, output_token_count=80, cached_content_token_count=1000,
        thoughts_token_count=12, tool_token_count=0, total_token_count=3092,
        prompt_id=SESSION, status_code=200), gemini_event(
        "gen_ai.client.inference.operation.details", **{
            "gen_ai.response.id": "resp-925468a90c074263", "gen_ai.operation.name":
            "generate_content", "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 3000, "gen_ai.usage.output_tokens": 80})))
    [usage] = facts.usage
    assert usage.session.external_id == SESSION and usage.session.kind == "gemini-cli"
    assert usage.tokens == {"tokens_input": 2000, "tokens_output": 80, "tokens_cache_read": 1000,
                            "tokens_cache_write": 0, "tokens_reasoning": 12}


def test_a_gemini_shell_command_that_exits_non_zero_is_an_error() -> None:
    def call(command: str, **extra: Any) -> dict[str, Any]:
        return gemini_event("gemini_cli.tool_call", function_name="run_shell_command",
                            duration_ms=22, success=True, decision="accept", tool_type="native",
                            function_args=f'{{"command": "{command}"}}', **extra)

    ok, failed = map_logs(logs(GEMINI, call("echo balanced"), call(
        "echo broken; exit 3", metadata='{\n  "exitCode": 3,\n  "isError": true\n}'))).tool_calls
    assert (ok.tool_name, ok.outcome, ok.latency_ms) == ("run_shell_command", "ok", 22)
    assert (failed.outcome, failed.error) == ("error", "exit code 3")
    assert ok.span_id != failed.span_id  # no call id in the event: one span per record
