"""A session that exports metrics only still shows its tokens and cost; once it reports usage
per request (logs or spans), that alone counts, and a session a hook reports never takes usage
from metrics."""

from __future__ import annotations

import time

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

from apps.agents.models import Agent
from apps.telemetry.models import TokenUsage
from tests.otlp.emitters import CUMULATIVE, Emitter, claude_code_logs, otlp_json, resource

pytestmark = pytest.mark.django_db
MODEL = "claude-sonnet-4-5"


def export(otlp, emitter: Emitter) -> bytes:
    body = otlp_json(encode_metrics(emitter.reader.get_metrics_data()))
    assert otlp.post("metrics", body).status_code == 200
    return body


def claude(sid: str, **kwargs) -> tuple[Emitter, object, object]:
    e = Emitter("http://127.0.0.1:9", "unused", resource("claude-code"), encoding="json",
                **kwargs)
    return e, e.meter.create_counter("claude_code.token.usage"), \
        e.meter.create_counter("claude_code.cost.usage", unit="USD")


def totals(sid: str) -> tuple[int, int, int, float]:
    rows = TokenUsage.objects.filter(agent__external_id=sid)
    return (sum(r.tokens_input for r in rows), sum(r.tokens_output for r in rows),
            sum(r.tokens_cache_read for r in rows), round(float(sum(r.cost_usd for r in rows)), 6))


def test_a_metrics_only_session_shows_its_tokens_and_cost(otlp) -> None:
    e, tokens, cost = claude("m-1")
    who = {"session.id": "m-1", "model": MODEL}
    tokens.add(1200, {**who, "type": "input"})
    tokens.add(80, {**who, "type": "output"})
    tokens.add(15000, {**who, "type": "cacheRead"})
    cost.add(0.0139, who)
    body = export(otlp, e)
    tokens.add(300, {**who, "type": "input"})
    cost.add(0.002, who)
    export(otlp, e)
    assert otlp.post("metrics", body).status_code == 200  # an exporter's retry adds nothing
    e.shutdown()
    assert totals("m-1") == (1500, 80, 15000, 0.0159)
    row = TokenUsage.objects.get(agent__external_id="m-1")
    assert row.key.startswith(f"metrics:{MODEL}:") and row.cost_source == "client"
    assert row.ts.minute == 0  # the hour it was counted in


def test_a_restarted_cumulative_session_is_not_counted_twice(otlp) -> None:
    who = {"session.id": "m-2", "model": MODEL, "type": "input"}
    first, tokens, _ = claude("m-2", temporality=CUMULATIVE)
    tokens.add(1000, who)
    export(otlp, first)
    tokens.add(500, who)
    export(otlp, first)
    first.shutdown()
    again, tokens, _ = claude("m-2", temporality=CUMULATIVE)
    tokens.add(200, who)
    export(otlp, again)
    again.shutdown()
    assert totals("m-2")[0] == 1700


def hour_rollup(sid: str) -> tuple[int, int]:
    from apps.telemetry.models import UsageRollup

    rows = UsageRollup.objects.filter(grain=3600, agent_id=Agent.objects.get(external_id=sid).pk)
    return sum(r.calls for r in rows), sum(r.tokens_input for r in rows)


def test_usage_per_request_replaces_the_metrics(otlp, settings) -> None:
    from apps.telemetry.rollups import roll_usage

    settings.TELEMETRY_ROLLUP_LAG_SECONDS = 0
    e, tokens, cost = claude("m-3")
    who = {"session.id": "m-3", "model": MODEL}
    tokens.add(1200, {**who, "type": "input"})
    cost.add(0.0139, who)
    export(otlp, e)
    assert totals("m-3") == (1200, 0, 0, 0.0139)
    roll_usage()
    assert hour_rollup("m-3") == (1, 1200)
    # The logs exporter is turned on: the call arrives as an api_request, dated two hours
    # back, so only the deletion of the metric row can empty this hour's rollup.
    two_hours_ago = time.time_ns() - 2 * 3600 * 10**9
    assert otlp.post("logs", otlp_json(claude_code_logs("m-3", events=[("api_request", {
        "request_id": "req_m3", "model": MODEL, "input_tokens": 1200, "output_tokens": 80,
        "cost_usd": 0.0139})], timestamp_ns=two_hours_ago))).status_code == 200
    tokens.add(999, {**who, "type": "input"})  # counted by its request, not again
    export(otlp, e)
    e.shutdown()
    assert totals("m-3") == (1200, 80, 0, 0.0139)
    assert list(TokenUsage.objects.values_list("key", flat=True)) == ["req_m3"]
    assert Agent.objects.get(external_id="m-3").metadata["usage_per_request"] is True
    roll_usage()
    assert hour_rollup("m-3") == (1, 1200)  # the request's hour; nothing left of the metric row


def test_a_hooked_session_never_takes_usage_from_metrics(api, otlp) -> None:
    r = api.post("/api/v1/events", {"events": [{"type": "agent.register", "data": {
        "name": "x", "kind": "claude-code", "external_id": "m-4",
        "metadata": {"client": "switchboard-claude-code-hook/test"}}}]}, format="json")
    assert r.status_code == 200
    e, tokens, _ = claude("m-4")
    tokens.add(1200, {"session.id": "m-4", "model": MODEL, "type": "input"})
    export(otlp, e)
    e.shutdown()
    assert not TokenUsage.objects.exists()
