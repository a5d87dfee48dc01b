"""POST /events (batches, idempotency) and GET /events."""

from __future__ import annotations

import pytest

from apps.agents.models import Agent, AgentEvent, AgentStatus, ToolSpan

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


def post(api, events):
    return api.post(URL, {"events": events}, format="json")


def test_it_ingests_a_batch_of_plain_events(api, agent):
    events = [{"type": "hook.pre_tool_use", "agent": agent.pk, "data": {"tool": "Bash", "i": i},
               "ts": "2026-03-04T12:00:00Z", "idempotency_key": f"k{i}"} for i in range(50)]
    r = post(api, events)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 50 and body["duplicates"] == 0
    assert [x["index"] for x in body["results"]] == list(range(50))
    assert AgentEvent.objects.filter(kind="hook.pre_tool_use", agent=agent).count() == 50


def test_a_replay_changes_nothing_and_returns_the_same_ids(api, agent):
    events = [{"type": "hook.stop", "agent": agent.pk, "idempotency_key": "a"},
              {"type": "agent.error", "agent": agent.pk, "data": {"message": "boom"},
               "idempotency_key": "b"},
              {"type": "usage", "agent": agent.pk, "idempotency_key": "c",
               "data": {"tokens_input": 10, "tokens_output": 5, "tokens_cache_read": 100}}]
    first = post(api, events).json()
    count = AgentEvent.objects.count()
    agent.refresh_from_db()
    errors = list(agent.error_times)
    replay = post(api, events).json()
    assert replay["accepted"] == 0 and replay["duplicates"] == 3
    assert [r["event_id"] for r in replay["results"]] == [r["event_id"] for r in first["results"]]
    assert AgentEvent.objects.count() == count
    agent.refresh_from_db()
    assert agent.error_times == errors


def test_duplicates_inside_one_batch_count_once(api, agent):
    r = post(api, [{"type": "hook.x", "agent": agent.pk, "idempotency_key": "same"},
                   {"type": "hook.x", "agent": agent.pk, "idempotency_key": "same"}]).json()
    assert [x["status"] for x in r["results"]] == ["created", "duplicate"]
    assert r["results"][0]["event_id"] == r["results"][1]["event_id"]
    assert AgentEvent.objects.filter(kind="hook.x").count() == 1


def test_it_interprets_server_types(api, agent):
    r = post(api, [
        {"type": "agent.register", "data": {"name": "sub", "external_id": "sub-1",
                                            "parent_external_id": "sess-1"}},
        {"type": "agent.status", "agent_external_id": "sub-1", "data": {"status": "working"}},
        {"type": "span.start", "agent_external_id": "sub-1",
         "data": {"span_id": "s1", "tool_name": "Bash", "input": {"cmd": "ls"}}},
        {"type": "span.finish", "agent_external_id": "sub-1",
         "data": {"span_id": "s1", "output": "a b", "tokens_output": 7}},
        {"type": "hook.notification", "agent_external_id": "sub-1", "data": {"m": "hi"}},
        {"type": "agent.heartbeat", "agent_external_id": "sub-1", "data": {"message": "ok"}},
    ]).json()
    assert [x["status"] for x in r["results"]] == ["created"] * 6, r
    sub = Agent.objects.get(external_id="sub-1")
    assert sub.parent == agent and sub.status == AgentStatus.WORKING
    assert sub.last_message == "ok"
    span = ToolSpan.objects.get(agent=sub, span_id="s1")
    assert span.tool_name == "Bash" and span.outcome == "ok" and span.tokens_output == 7
    assert AgentEvent.objects.filter(agent=sub, kind="hook.notification").exists()


def test_it_reports_errors_per_event(api, agent, foreign_agent):
    r = post(api, [
        {"type": "hook.ok", "agent": agent.pk},
        {"type": "Not A Type", "agent": agent.pk},
        {"type": "hook.x"},
        {"type": "hook.x", "agent": foreign_agent.pk},
        {"type": "agent.blocked", "agent": agent.pk},
        {"type": "hook.x", "agent": agent.pk, "ts": "yesterday"},
        {"type": "hook.x", "agent": agent.pk, "data": [1]},
        {"type": "agent.status", "agent": agent.pk, "data": {"status": "dancing"}},
        "nope",
    ]).json()
    statuses = [x["status"] for x in r["results"]]
    assert statuses == ["created"] + ["error"] * 8
    assert all(x["error"] for x in r["results"][1:])
    agent.refresh_from_db()
    assert agent.status == AgentStatus.IDLE
    assert not AgentEvent.objects.filter(agent=foreign_agent, kind="hook.x").exists()


def test_it_rejects_bad_batches(api, agent):
    assert api.post(URL, {"events": []}, format="json").status_code == 400
    assert api.post(URL, {"events": "x"}, format="json").status_code == 400
    assert api.post(URL, [1, 2], format="json").status_code == 400
    too_many = [{"type": "hook.x", "agent": agent.pk}] * 1001
    r = api.post(URL, {"events": too_many}, format="json")
    assert r.status_code == 400 and "events" in r.json()["details"]
    assert not AgentEvent.objects.filter(kind="hook.x").exists()


def test_it_answers_413_for_a_huge_batch(api, agent):
    big = [{"type": "hook.x", "agent": agent.pk, "data": {"pad": "x" * 2000}}] * 600
    assert api.post(URL, {"events": big}, format="json").status_code == 413


def test_it_reads_events_back_with_filters(api, agent, make_agent, foreign_agent):
    other = make_agent("other")
    post(api, [{"type": "hook.a", "agent": agent.pk}, {"type": "hook.b", "agent": other.pk},
               {"type": "custom.c", "agent": agent.pk}])
    post_foreign = AgentEvent.objects.create(project=foreign_agent.project, agent=foreign_agent,
                                             kind="hook.a")
    kinds = [e["kind"] for e in api.get(URL, {"agent": agent.pk}).json()["results"]]
    assert "hook.a" in kinds and "custom.c" in kinds and "hook.b" not in kinds
    assert {e["kind"] for e in api.get(URL, {"kind": "hook.*"}).json()["results"]} == {
        "hook.a", "hook.b"}
    ids = [e["id"] for e in api.get(URL, {"limit": 500}).json()["results"]]
    assert post_foreign.pk not in ids
    assert api.get(URL, {"agent": "x"}).status_code == 400


def test_event_permissions(read_api, anon_api, other_api, agent):
    body = {"events": [{"type": "hook.x", "agent": agent.pk}]}
    assert read_api.post(URL, body, format="json").status_code == 403
    assert anon_api.post(URL, body, format="json").status_code == 401
    r = other_api.post(URL, body, format="json")
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "error"
    assert read_api.get(URL).status_code == 200
    assert anon_api.get(URL).status_code == 401
    assert not AgentEvent.objects.filter(kind="hook.x").exists()


def test_a_value_the_database_refuses_fails_only_its_event(api, agent):
    # PostgreSQL's jsonb refuses \u0000; SQLite stores it. Either way: no 500, others stored.
    r = api.post(URL, {"events": [{"type": "hook.a", "agent": agent.pk, "idempotency_key": "x1"},
                                  {"type": "hook.b", "agent": agent.pk, "data": {"s": "a\u0000b"}},
                                  {"type": "hook.c", "agent": agent.pk}]}, format="json")
    assert r.status_code == 200
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses[0] == statuses[2] == "created" and statuses[1] in ("created", "error")
    assert AgentEvent.objects.filter(kind__in=["hook.a", "hook.c"]).count() == 2


def test_a_repeated_span_event_is_a_duplicate_and_changes_nothing(api, agent):
    """Span events carry their key in the event's INSERT (no lookup first): a retry after a
    lost answer is refused there, its effects rolled back, and answered as the first one."""
    from apps.agents.models import AgentEvent, ToolSpan

    event = {"type": "span.finish", "agent_external_id": "sess-1", "idempotency_key": "span-k1",
             "data": {"span_id": "toolu_1", "tool_name": "Bash", "output": "ok",
                      "latency_ms": 120}}
    first = api.post("/api/v1/events", {"events": [event]}, format="json").json()
    retry = {**event, "data": {**event["data"], "output": "changed", "latency_ms": 999}}
    second = api.post("/api/v1/events", {"events": [retry]}, format="json").json()
    assert first["results"][0]["status"] == "created"
    assert second["results"][0] == {"index": 0, "status": "duplicate",
                                    "event_id": first["results"][0]["event_id"]}
    span = ToolSpan.objects.get(agent=agent, span_id="toolu_1")
    assert (span.output, span.latency_ms) == ("ok", 120)
    assert AgentEvent.objects.filter(idempotency_key="span-k1").count() == 1


@pytest.mark.parametrize("ts", ["9999-12-31T23:30:00-01:00", "1990-01-01T00:00:00Z",
                                "2999-01-01T00:00:00Z", 1e18, "yesterday"])
def test_an_event_time_outside_a_sane_window_is_refused(api, agent, ts):
    """Stored, such a time broke every reader of the event log (PostgreSQL keeps years Python
    cannot convert back); refused at the door, the rest of the batch goes on."""
    body = {"events": [{"type": "hook.note", "agent": agent.pk, "ts": ts, "data": {}},
                       {"type": "hook.note", "agent": agent.pk, "data": {}}]}
    r = api.post("/api/v1/events", body, format="json")
    assert r.status_code == 200
    first, second = r.json()["results"]
    assert first["status"] == "error" and first["error"].startswith("ts:")
    assert second["status"] == "created"
    assert api.get("/api/v1/events").status_code == 200


def test_text_every_reader_would_choke_on_is_refused(api, agent):
    raw = ('{"events": ['
           '{"type": "hook.note", "agent": AGENT, "data": {"note": "bad \\ud800 half"}},'
           '{"type": "hook.note", "agent": AGENT, "data": {"note": "nul \\u0000 here"}},'
           '{"type": "hook.note", "agent": AGENT, "data": {"note": "a literal \\\\u0000 is text"}}'
           ']}').replace("AGENT", str(agent.pk))
    r = api.generic("POST", "/api/v1/events", raw, content_type="application/json")
    assert r.status_code == 200, r.content
    surrogate, nul, literal = r.json()["results"]
    assert surrogate["status"] == "error" and "Unicode" in surrogate["error"]
    assert nul["status"] == "error" and "NUL" in nul["error"]
    assert literal["status"] == "created"
    assert api.get("/api/v1/events").status_code == 200
    assert api.get("/api/v1/agents").status_code == 200


def test_events_stored_with_impossible_times_are_repaired(api, agent):
    """What the door now refuses may already be stored: the repair migration gives such
    events their arrival time, and the event log reads again."""
    import importlib

    from django.apps import apps as registry
    from django.db import connection

    from apps.agents.models import AgentEvent

    event = AgentEvent.objects.create(project=agent.project, agent=agent, kind="hook.note",
                                      data={})
    with connection.cursor() as cursor:  # as an unchecked write once stored it
        cursor.execute("UPDATE agents_agentevent SET ts = %s WHERE id = %s",
                       ["10000-01-01 00:30:00" if connection.vendor == "sqlite"
                        else "10000-01-01 00:30:00+00", event.pk])
    repair = importlib.import_module(
        "apps.agents.migrations.0008_events_with_impossible_times").repair
    repair(registry, None)
    event.refresh_from_db()
    assert event.ts == event.created_at
    assert api.get("/api/v1/events").status_code == 200
