"""The intake's answers to bad requests, as the OTLP specification asks: a clear 4xx, the rest
of a batch stored, nothing stored twice, never a 500."""

from __future__ import annotations

import gzip
import json

import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from apps.agents.models import Agent, ToolSpan
from apps.otlp.models import Counter
from apps.telemetry.models import TokenUsage
from tests.conftest import make_key
from tests.otlp.emitters import claude_code_logs, otlp_json

pytestmark = pytest.mark.django_db
PROTOBUF = "application/x-protobuf"


def test_protobuf_and_json_bodies_store_the_same(otlp) -> None:
    message = claude_code_logs("s-proto")
    r = otlp.post("logs", message.SerializeToString(), PROTOBUF)
    assert r.status_code == 200 and r["Content-Type"] == PROTOBUF
    assert ExportLogsServiceResponse.FromString(r.content) == ExportLogsServiceResponse()
    r = otlp.post("logs", otlp_json(claude_code_logs("s-json")), path="/api/v1/otlp/v1/")
    assert r.status_code == 200 and r.json() == {}
    rows = {u.agent.external_id: u for u in TokenUsage.objects.select_related("agent")}
    assert set(rows) == {"s-proto", "s-json"}
    for row in rows.values():
        assert (row.key, row.tokens_input, row.tokens_output, row.tokens_cache_read) == \
            ("req_1", 10, 5, 100)
        assert row.cost_source == "client" and float(row.cost_usd) == 0.01


def test_a_gzip_body_is_read_and_a_retry_counts_once(otlp) -> None:
    body = gzip.compress(claude_code_logs().SerializeToString())
    for _ in range(2):
        assert otlp.post("logs", body, PROTOBUF, content_encoding="gzip").status_code == 200
    assert TokenUsage.objects.count() == 1 and Agent.objects.count() == 1


@pytest.mark.parametrize("body, content_type, status, words", [
    (b"\x0a\xff\xff\xff", PROTOBUF, 400, "not a valid OTLP protobuf"),
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"[1, 2]", "application/json", 400, "JSON object"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}',
     "application/json", 400, "not a hex id"),
    (b'{"resourceLogs": 7}', "application/json", 400, "not a valid OTLP/JSON"),
    (b"hello", "text/plain", 415, "Content-Type"),
])
def test_a_bad_body_is_a_400_or_415_with_a_status_message(otlp, body, content_type, status,
                                                            words) -> None:
    r = otlp.post("logs", body, content_type)
    assert r.status_code == status
    if content_type == "application/json":
        assert words in r.json()["message"]
    else:
        assert words in status_pb2.Status.FromString(r.content).message
    assert not Agent.objects.exists()


def test_a_truncated_protobuf_is_refused_whole(otlp) -> None:
    body = claude_code_logs().SerializeToString()
    r = otlp.post("logs", body[: len(body) - 7], PROTOBUF)
    assert r.status_code == 400 and not TokenUsage.objects.exists()


def test_bad_encodings_and_sizes(otlp, settings) -> None:
    settings.OTLP_MAX_BODY_BYTES = 64 * 1024
    body = claude_code_logs().SerializeToString()
    assert otlp.post("logs", body, PROTOBUF, content_encoding="br").status_code == 415
    assert otlp.post("logs", b"not gzip", PROTOBUF, content_encoding="gzip").status_code == 400
    truncated = gzip.compress(body)[:-12]
    assert otlp.post("logs", truncated, PROTOBUF, content_encoding="gzip").status_code == 400
    bomb = gzip.compress(b"\x00" * (10 * 1024 * 1024))  # 10 KB that inflate to 10 MB
    r = otlp.post("logs", bomb, PROTOBUF, content_encoding="gzip")
    assert r.status_code == 413 and "decompressed" in status_pb2.Status.FromString(r.content).message
    r = otlp.post("logs", b"\x00" * (10 * 1024 * 1024), PROTOBUF)  # a 10 MB body
    assert r.status_code == 413
    assert not TokenUsage.objects.exists()


def test_keys(otlp, project, other_project) -> None:
    body = claude_code_logs().SerializeToString()
    r = otlp.post("logs", body, PROTOBUF, key=None)
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
    assert otlp.post("logs", body, PROTOBUF, key="sbk_nope").status_code == 401
    r = otlp.post("logs", body, PROTOBUF, key=make_key(project, "read"))
    assert r.status_code == 403 and "read-only" in status_pb2.Status.FromString(r.content).message
    # Another project's key writes to that project, never to this one.
    assert otlp.post("logs", body, PROTOBUF, key=make_key(other_project)).status_code == 200
    assert list(Agent.objects.values_list("project", flat=True)) == [other_project.pk]
    assert otlp.client.get("/v1/logs").status_code == 405


def test_the_rate_limit_answers_429_with_retry_after(otlp, settings) -> None:
    from rest_framework.settings import api_settings

    rates = dict(api_settings.DEFAULT_THROTTLE_RATES)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **rates, "write_key": "2/minute"}}
    body = claude_code_logs().SerializeToString()
    statuses = [otlp.post("logs", body, PROTOBUF).status_code for _ in range(3)]
    assert statuses[:2] == [200, 200]
    r = otlp.post("logs", body, PROTOBUF)
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1


def test_absurd_values_are_rejected_and_counted_the_rest_is_stored(otlp) -> None:
    message = claude_code_logs("s-bad", events=[
        ("api_request", {"request_id": "req_ok", "model": "m", "input_tokens": 3,
                         "output_tokens": 4}),
        ("api_request", {"request_id": "req_neg", "model": "m", "input_tokens": -5}),
        ("api_request", {"request_id": "req_nan", "model": "m", "output_tokens": float("nan")}),
        ("api_request", {"request_id": "req_cost", "model": "m", "cost_usd": -1.0}),
        ("tool_result", {"tool_use_id": "t1", "tool_name": "Bash", "success": "true",
                         "duration_ms": "-3"}),
        ("plugin_loaded", {"plugin.name": "x"}),  # valid, unknown to us: accepted, dropped
    ])
    r = otlp.post("logs", otlp_json(message))
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 4
    assert "input_tokens" in partial["errorMessage"]
    assert list(TokenUsage.objects.values_list("key", flat=True)) == ["req_ok"]
    assert not ToolSpan.objects.exists()


def test_unknown_metric_names_become_counters_and_bad_points_are_rejected(otlp) -> None:
    body = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "my-agent"}}]}, "scopeMetrics": [{
            "metrics": [
                {"name": "my_agent.widgets", "sum": {"aggregationTemporality": 1,
                                                     "isMonotonic": True, "dataPoints": [
                    {"asInt": "7", "timeUnixNano": "1796638614785000000",
                     "attributes": [{"key": "session.id", "value": {"stringValue": "s9"}}]},
                    {"asDouble": -3, "timeUnixNano": "1796638614785000001",
                     "attributes": [{"key": "session.id", "value": {"stringValue": "s9"}}]}]}},
                {"name": "my_agent.temperature", "gauge": {"dataPoints": [{"asDouble": 3}]}},
            ]}]}]}
    r = otlp.post("metrics", json.dumps(body).encode())
    assert r.status_code == 200
    assert int(r.json()["partialSuccess"]["rejectedDataPoints"]) == 1
    counter = Counter.objects.get()
    assert (counter.name, counter.total, counter.agent.external_id) == ("my_agent.widgets", 7,
                                                                        "s9")
    assert counter.agent.kind == "my-agent"
