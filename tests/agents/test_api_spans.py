"""POST /spans (start / finish in any order) and GET /spans."""

from __future__ import annotations

import pytest

from apps.agents.models import AgentEvent, ToolSpan

pytestmark = pytest.mark.django_db
URL = "/api/v1/spans"


def span(api, agent, **fields):
    return api.post(URL, {"agent": agent.pk, **fields}, format="json")


def test_it_starts_and_finishes_a_span(api, agent):
    r = span(api, agent, span_id="t1", phase="start", tool_name="Bash", turn=2,
             input={"command": "pytest"}, started_at="2026-03-04T12:00:00Z")
    assert r.status_code == 200 and r.json()["outcome"] == "pending"
    r = span(api, agent, span_id="t1", phase="finish", output="2 passed",
             finished_at="2026-03-04T12:00:01.5Z", tokens_input=10, tokens_cache_read=400)
    body = r.json()
    assert body["latency_ms"] == 1500 and body["outcome"] == "ok" and body["turn"] == 2
    assert body["tokens_cache_read"] == 400
    assert ToolSpan.objects.count() == 1
    assert list(AgentEvent.objects.filter(kind__startswith="span.").values_list(
        "kind", flat=True).order_by("id")) == ["span.started", "span.finished"]


def test_a_finish_without_a_start_makes_a_whole_span(api, agent):
    r = span(api, agent, span_id="t2", phase="finish", tool_name="Read", latency_ms=40,
             error="file not found", finished_at="2026-03-04T12:00:00Z")
    body = r.json()
    assert body["outcome"] == "error" and body["latency_ms"] == 40
    assert body["started_at"] == "2026-03-04T11:59:59.960000Z"


def test_a_late_start_completes_an_early_finish(api, agent):
    span(api, agent, span_id="t3", phase="finish", finished_at="2026-03-04T12:00:02Z")
    r = span(api, agent, span_id="t3", phase="start", tool_name="Edit",
             started_at="2026-03-04T12:00:00Z")
    assert r.json()["latency_ms"] == 2000 and r.json()["tool_name"] == "Edit"
    assert ToolSpan.objects.count() == 1


def test_it_truncates_payloads_keeping_the_size(api, agent):
    r = span(api, agent, span_id="t4", phase="start", input="é" * 20000)
    body = r.json()
    assert body["input_size"] == 40000
    assert len(body["input"].encode()) <= 16 * 1024


def test_it_keeps_the_original_size_a_client_reports(api, agent):
    # The hook cuts payloads to 16 KB itself and says how large they were.
    r = span(api, agent, span_id="t5", phase="start", input="x" * 100, input_size=250_000)
    assert r.json()["input_size"] == 250_000
    r = span(api, agent, span_id="t5", phase="finish", output="y" * 5000, output_size=10)
    assert r.json()["output_size"] == 5000  # never smaller than what actually arrived


def test_it_validates_spans(api, agent, foreign_agent):
    r = api.post(URL, {"phase": "middle", "latency_ms": -1}, format="json")
    assert r.status_code == 400
    assert set(r.json()["details"]) >= {"agent", "span_id", "phase", "latency_ms"}
    assert span(api, foreign_agent, span_id="x", phase="start").status_code == 404
    assert not ToolSpan.objects.exists()


def test_it_reads_spans_back_with_filters(api, agent, make_agent):
    other = make_agent("other")
    span(api, agent, span_id="a", phase="finish", tool_name="Bash")
    span(api, agent, span_id="b", phase="finish", tool_name="Read")
    span(api, other, span_id="c", phase="finish", tool_name="Bash")
    assert {s["span_id"] for s in api.get(URL, {"agent": agent.pk}).json()["results"]} == {"a", "b"}
    assert {s["span_id"] for s in api.get(URL, {"kind": "Bash"}).json()["results"]} == {"a", "c"}
    first = api.get(URL, {"limit": 1}).json()
    assert len(first["results"]) == 1 and first["next"]


def test_span_permissions(read_api, anon_api, other_api, agent):
    body = {"agent": agent.pk, "span_id": "p", "phase": "start"}
    assert read_api.post(URL, body, format="json").status_code == 403
    assert anon_api.post(URL, body, format="json").status_code == 401
    assert other_api.post(URL, body, format="json").status_code == 404
    assert anon_api.get(URL).status_code == 401
    assert other_api.get(URL).json()["results"] == []
    assert not ToolSpan.objects.exists()
