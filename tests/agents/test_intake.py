"""The lean span intake (apps/agents/intake.py) behind the WSGI fast path: one span event per
request, as the Claude Code hook sends it. It must store exactly what the regular path stores
and answer exactly as it answers; anything it does not reproduce goes to Django."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.agents.models import AgentEvent, AgentStatus, ToolSpan
from apps.agents.services import agent_action
from config.wsgi import application, django_application
from tests.support import Answer, call

pytestmark = pytest.mark.django_db
FAST, DJANGO = "FastPath", "WSGIHandler"
T0 = datetime(2026, 11, 29, 12, 0, 0, 250000, tzinfo=UTC)
SPAN_FIELDS = ["task_id", "span_id", "turn", "tool_name", "input", "input_size", "output",
               "output_size", "started_at", "finished_at", "latency_ms", "outcome", "error",
               "tokens_input", "tokens_output", "tokens_cache_read", "tokens_cache_write",
               "tokens_reasoning"]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def post(app: Any, key: str, events: list[dict[str, Any]], **extra: Any) -> Answer:
    return call(app, "/api/v1/events", {"events": events, **extra},
                HTTP_AUTHORIZATION=f"Bearer {key}")


def start(span_id: str, **data: Any) -> dict[str, Any]:
    return {"type": "span.start", "data": {"span_id": span_id, "phase": "start", "turn": 2,
                                           "tool_name": "Bash", **data}}


def finish(span_id: str, **data: Any) -> dict[str, Any]:
    return {"type": "span.finish", "data": {"span_id": span_id, "phase": "finish", "turn": 2,
                                            "tool_name": "Bash", "latency_ms": 120, **data}}


# Each scenario is a list of events sent one per request; both paths get the same list.
SCENARIOS = {
    "start then finish": [
        start("s1", input="ls -la", input_size=6, started_at=iso(T0)),
        finish("s1", output="total 0", output_size=7, outcome="ok",
               finished_at=iso(T0 + timedelta(milliseconds=120))),
    ],
    "finish first, then start: latency from the two times": [
        finish("s2", latency_ms=50, error="boom", finished_at=iso(T0)),
        start("s2", input={"command": "make"}, started_at=iso(T0 - timedelta(milliseconds=200))),
    ],
    "a start whose finish stays out; sizes larger than what came": [
        start("s3", input={"command": "npm test", "description": "run"}, input_size=9000,
              started_at=iso(T0)),
    ],
    "denied, with no output": [
        start("s4", input="rm -rf /", started_at=iso(T0)),
        finish("s4", outcome="denied", finished_at=iso(T0 + timedelta(seconds=3)),
               latency_ms=0),
    ],
    "clipped input and non-ASCII output": [
        start("s5", input="é" * 20_000, started_at=iso(T0)),
        finish("s5", output="héllo ✓ 🚀", output_size=99_999, finished_at=iso(T0)),
    ],
    "a null input, a zero turn, no phase field": [
        {"type": "span.start", "data": {"span_id": "s6", "turn": 0, "tool_name": "Read",
                                        "input": None, "started_at": iso(T0)}},
        {"type": "span.finish", "data": {"span_id": "s6", "turn": 0, "tool_name": "Read",
                                         "latency_ms": 7, "finished_at": iso(T0)}},
    ],
    "whole seconds": [
        finish("s8", latency_ms=1, finished_at=iso(T0.replace(microsecond=0))),
        start("s8", started_at=iso(T0.replace(microsecond=0) - timedelta(microseconds=400_001))),
    ],
    "a retried start after the finish": [
        start("s7", input="first", started_at=iso(T0)),
        finish("s7", output="done", finished_at=iso(T0 + timedelta(seconds=1))),
        start("s7", input="second", started_at=iso(T0 + timedelta(milliseconds=500))),
    ],
}


@pytest.fixture
def pair(make_agent, write_key, project):
    """Two like agents: the fast path reports on one, Django's stack on the other."""
    fast = make_agent("fast", kind="claude-code", external_id="fast-1", model="opus")
    slow = make_agent("slow", kind="claude-code", external_id="slow-1", model="opus")
    return fast, slow


def send(app: Any, key: str, agent: Any, events: list[dict[str, Any]], prefix: str,
         by_id: bool = False) -> list[Answer]:
    answers = []
    for n, event in enumerate(events):
        event = {**event, "idempotency_key": f"{prefix}-{n}",
                 **({"agent": agent.pk} if by_id else {"agent_external_id": agent.external_id})}
        answers.append(post(app, key, [event]))
    return answers


def stored(agent: Any) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    spans = list(ToolSpan.objects.filter(agent=agent).order_by("span_id").values(*SPAN_FIELDS))
    events = [(e.kind, e.data, e.actor_label, e.task_id, e.idempotency_key.split("-", 1)[1])
              for e in AgentEvent.objects.filter(agent=agent, kind__startswith="span.")
              .order_by("id")]
    return spans, events


# Committed: each request outside any transaction, as served. On SQLite the fast path then
# writes on the raw connection (apps.core.db.sqlite_transaction) instead of through atomic().
COMMITTED = pytest.param(True, marks=pytest.mark.django_db(transaction=True), id="committed")
IN_TEST_TRANSACTION = pytest.param(False, id="in a test transaction")


@pytest.mark.parametrize("committed", [IN_TEST_TRANSACTION, COMMITTED])
@pytest.mark.parametrize("by_id", [False, True], ids=["external id", "agent id"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_it_stores_and_answers_what_the_regular_path_does(name, by_id, committed, pair,
                                                          write_key):
    fast, slow = pair
    events = SCENARIOS[name]
    quick = send(application, write_key, fast, events, "f", by_id)
    regular = send(django_application, write_key, slow, events, "s", by_id)
    assert [a.by for a in quick] == [{FAST}] * len(events)
    assert [a.by for a in regular] == [{DJANGO}] * len(events)
    for a, b in zip(quick, regular, strict=True):
        assert a.status_code == b.status_code == 200
        body_a, body_b = a.json(), b.json()
        for body in (body_a, body_b):
            assert isinstance(body["results"][0].pop("event_id"), int)
        assert body_a == body_b
        strip = {"content-length", "date"}
        assert {k: v for k, v in a.headers.items() if k not in strip} == \
            {k: v for k, v in b.headers.items() if k not in strip}
    assert stored(fast) == stored(slow)
    fast.refresh_from_db()
    assert fast.last_heartbeat_at > T0  # a span is a sign of life


def test_times_left_out_are_the_servers(pair, write_key):
    fast, _ = pair
    before = datetime.now(UTC)
    send(application, write_key, fast, [start("n1"), finish("n1", latency_ms=40)], "t")
    span = ToolSpan.objects.get(agent=fast, span_id="n1")
    after = datetime.now(UTC)
    assert before <= span.started_at <= span.finished_at <= after
    assert span.latency_ms == 40 and span.outcome == "ok"
    event = AgentEvent.objects.get(agent=fast, kind="span.finished")
    assert before <= event.ts <= after


def test_a_repeated_key_changes_nothing_and_names_the_first_event(pair, write_key):
    fast, _ = pair
    event = {**start("r1", input="one", started_at=iso(T0)), "idempotency_key": "k-1",
             "agent_external_id": fast.external_id}
    first = post(application, write_key, [event])
    again = {**event, "data": {**event["data"], "input": "changed"}}
    second = post(application, write_key, [again])
    assert first.by == second.by == {FAST}
    assert first.json()["accepted"] == 1
    assert second.json() == {"accepted": 0, "duplicates": 1, "commands": [], "results": [
        {"index": 0, "status": "duplicate", "event_id": first.json()["results"][0]["event_id"]}]}
    assert ToolSpan.objects.get(agent=fast, span_id="r1").input == "one"
    assert AgentEvent.objects.filter(idempotency_key="k-1").count() == 1


def test_one_statement_on_postgresql(pair, write_key):
    fast, _ = pair
    send(application, write_key, fast, [start("q0")], "warm")  # the key is cached from here
    with CaptureQueriesContext(connection) as ctx:
        answers = send(application, write_key, fast, [start("q1", input="x"),
                                                      finish("q1", output="y")], "q")
    assert [a.by for a in answers] == [{FAST}, {FAST}]
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    if connection.vendor == "postgresql":
        assert len(statements) == 2, statements  # one per request
        assert all(s.lstrip().startswith("WITH a AS (UPDATE agents_agent") for s in statements)
    else:  # SQLite: agent, event, span inside one transaction
        assert len(statements) == 6, statements


@pytest.mark.django_db(transaction=True)
def test_subscribers_hear_of_it_once_committed(pair, write_key):
    from apps.core import events as spine

    heard: list[tuple[Any, ...]] = []
    spine.register_reactor("test-intake", lambda *args: heard.append(args))
    try:
        answers = send(application, write_key, pair[0], [start("p1"), start("p1")], "p")
        repeated = post(application, write_key, [{**start("p1"), "idempotency_key": "p-0",
                                                   "agent_external_id": pair[0].external_id}])
    finally:
        spine._reactors.pop("test-intake")
    assert [a.by for a in answers] == [{FAST}] * 2 and repeated.by == {FAST}
    first, second = (a.json()["results"][0]["event_id"] for a in answers)
    assert repeated.json()["duplicates"] == 1  # a key seen before: nothing to hear of
    assert heard == [(first, "span.started", pair[0].project_id, pair[0].pk),
                     (second, "span.started", pair[0].project_id, pair[0].pk)]


def test_subscribers_hear_of_it_after_commit(pair, write_key, django_capture_on_commit_callbacks):
    from apps.core import events as spine

    heard: list[tuple[Any, ...]] = []
    spine.register_reactor("test-intake", lambda *args: heard.append(args))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            answer = send(application, write_key, pair[0], [start("p1")], "p")[0]
    finally:
        spine._reactors.pop("test-intake")
    assert answer.by == {FAST}
    event_id = answer.json()["results"][0]["event_id"]
    assert heard == [(event_id, "span.started", pair[0].project_id, pair[0].pk)]


FALLS_THROUGH = {
    "two events": lambda a: {"events": [start("x1"), start("x2")]},
    "a task": lambda a: {"events": [start("x1", task=1)]},
    "token counts": lambda a: {"events": [finish("x1", tokens_input=10)]},
    "a finish without latency": lambda a: {"events": [{"type": "span.finish", "data": {
        "span_id": "x1", "turn": 1, "tool_name": "Bash"}}]},
    "a start with a latency": lambda a: {"events": [start("x1", latency_ms=5)]},
    "no tool name": lambda a: {"events": [start("x1", tool_name="")]},
    "padded text": lambda a: {"events": [start("x1", tool_name=" Bash")]},
    "a bad outcome": lambda a: {"events": [finish("x1", outcome="great")]},
    "a time out of range": lambda a: {"events": [start("x1", started_at="1999-01-01T00:00:00Z")]},
    "a naive time": lambda a: {"events": [start("x1", started_at="2026-11-29T12:00:00")]},
    "a bad event ts": lambda a: {"events": [{**start("x1"), "ts": "yesterday"}]},
    "a NUL": lambda a: {"events": [start("x1", input="a\u0000b")]},
    "an unknown field": lambda a: {"events": [start("x1", colour="red")]},
    "commands not a boolean": lambda a: {"events": [start("x1")], "commands": "yes"},
    "a plain event": lambda a: {"events": [{"type": "hook.stop", "data": {}}]},
}


@pytest.mark.parametrize("case", list(FALLS_THROUGH))
def test_what_it_does_not_reproduce_goes_to_django(case, pair, write_key):
    fast, slow = pair
    body = FALLS_THROUGH[case](fast)
    for event in body["events"]:
        event["agent_external_id"] = fast.external_id
    answer = call(application, "/api/v1/events", body, HTTP_AUTHORIZATION=f"Bearer {write_key}")
    assert DJANGO in answer.by
    for event in body["events"]:
        event["agent_external_id"] = slow.external_id
    regular = call(django_application, "/api/v1/events", body,
                   HTTP_AUTHORIZATION=f"Bearer {write_key}")
    assert answer.status_code == regular.status_code
    if answer.status_code == 200:
        assert [r["status"] for r in answer.json()["results"]] == \
            [r["status"] for r in regular.json()["results"]]


def test_an_agent_that_is_not_plain_goes_to_django(pair, write_key):
    fast, _ = pair
    command = agent_action(agent=fast, action="sleep")
    answer = send(application, write_key, fast, [start("c1")], "c")[0]
    assert DJANGO in answer.by
    assert [c["id"] for c in answer.json()["commands"]] == [command.pk]
    type(fast).objects.filter(pk=fast.pk).update(status=AgentStatus.OFFLINE, pending_commands=0)
    answer = send(application, write_key, fast, [start("c2")], "o")[0]
    assert DJANGO in answer.by
    fast.refresh_from_db()
    assert fast.status != AgentStatus.OFFLINE
    assert ToolSpan.objects.filter(agent=fast).count() == 2


def test_unknown_agents_and_other_projects_go_to_django(pair, foreign_agent, write_key):
    for ref in ({"agent_external_id": "nobody"}, {"agent": foreign_agent.pk},
                {"agent_external_id": foreign_agent.external_id}):
        answer = post(application, write_key, [{**start("u1"), **ref}])
        assert DJANGO in answer.by
        assert answer.json()["results"][0]["status"] == "error"
    assert not ToolSpan.objects.filter(agent=foreign_agent).exists()


def test_a_rule_watching_span_kinds_sends_them_to_django(pair, write_key, settings):
    from apps.alerts import rules
    from apps.alerts.models import AlertRule, PendingEvaluation

    settings.ALERTS_ENABLED = True
    AlertRule.objects.create(name="Slow tools", event_kind="span.started", severity="info")
    rules.invalidate()
    try:
        answer = send(application, write_key, pair[0], [start("w1")], "w")[0]
    finally:
        AlertRule.objects.all().delete()
        rules.invalidate()
    assert DJANGO in answer.by
    assert PendingEvaluation.objects.filter(event_id=answer.json()["results"][0]["event_id"]) \
        .exists()


def test_a_read_key_and_the_rate_limit_are_django_answers(pair, read_key, write_key, settings):
    answer = post(application, read_key, [{**start("k1"), "agent_external_id": "fast-1"}])
    assert answer.status_code == 403 and DJANGO in answer.by
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"write_key": "2/hour",
                                                          "write_ip": "1000/hour"}}
    answers = send(application, write_key, pair[0], [start("k2"), start("k3"), start("k4")], "k")
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].by == {FAST} and DJANGO in answers[2].by
    assert json.loads(answers[2].body)["error"]


# --- the span API, POST /api/v1/spans -----------------------------------------------------
def send_spans(app: Any, key: str, agent: Any, events: list[dict[str, Any]]) -> list[Answer]:
    """The scenario's events as the span API takes them: flat, with the agent's id."""
    answers = []
    for event in events:
        body = {"agent": agent.pk, "phase": event["type"][5:], **event["data"]}
        answers.append(call(app, "/api/v1/spans", body, HTTP_AUTHORIZATION=f"Bearer {key}"))
    return answers


def span_rows(agent: Any) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    spans = list(ToolSpan.objects.filter(agent=agent).order_by("span_id").values(*SPAN_FIELDS))
    events = [(e.kind, e.data, e.actor_label, e.task_id, e.idempotency_key)
              for e in AgentEvent.objects.filter(agent=agent, kind__startswith="span.")
              .order_by("id")]
    return spans, events


@pytest.mark.parametrize("committed", [IN_TEST_TRANSACTION, COMMITTED])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_span_api_stores_and_answers_what_its_view_does(name, committed, pair, write_key):
    fast, slow = pair
    events = SCENARIOS[name]
    quick = send_spans(application, write_key, fast, events)
    regular = send_spans(django_application, write_key, slow, events)
    assert [a.by for a in quick] == [{FAST}] * len(events)
    assert [a.by for a in regular] == [{DJANGO}] * len(events)
    for a, b in zip(quick, regular, strict=True):
        assert a.status_code == b.status_code == 200
        body_a, body_b = a.json(), b.json()
        assert body_a.pop("agent") == fast.pk and body_b.pop("agent") == slow.pk
        assert isinstance(body_a.pop("id"), int) and isinstance(body_b.pop("id"), int)
        assert body_a == body_b
        strip = {"content-length", "date"}
        assert {k: v for k, v in a.headers.items() if k not in strip} == \
            {k: v for k, v in b.headers.items() if k not in strip}
    assert span_rows(fast) == span_rows(slow)


def test_the_span_api_takes_one_statement_on_postgresql(pair, write_key):
    fast, _ = pair
    send_spans(application, write_key, fast, [start("a0")])  # the key is cached from here
    with CaptureQueriesContext(connection) as ctx:
        answers = send_spans(application, write_key, fast, [start("a1", input="x")])
    assert [a.by for a in answers] == [{FAST}]
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    # PostgreSQL: the CTE returns the span too; SQLite: agent, event, span, then the span read.
    assert len(statements) == (1 if connection.vendor == "postgresql" else 4), statements


@pytest.mark.parametrize("body", [
    {"phase": "start", "span_id": "x", "turn": 1, "tool_name": "Bash"},  # no agent
    {"agent": "1", "phase": "start", "span_id": "x", "turn": 1, "tool_name": "Bash"},
    {"agent": 1, "phase": "begin", "span_id": "x", "turn": 1, "tool_name": "Bash"},
    {"agent": 1, "phase": "finish", "span_id": "x", "turn": 1, "tool_name": "Bash",
     "latency_ms": 5, "tokens_input": 10},  # tokens: the regular path records usage
    {"agent": 1, "phase": "start", "span_id": "x", "turn": 1, "tool_name": "Bash", "task": 3},
    {"agent": 1, "phase": "start", "span_id": "x", "tool_name": "Bash",
     "idempotency_key": "k"},
], ids=["no agent", "agent as text", "bad phase", "tokens", "task", "unknown field"])
def test_span_api_bodies_it_does_not_reproduce_go_to_django(body, pair, write_key):
    fast, slow = pair
    answers = []
    for app, agent in ((application, fast), (django_application, slow)):
        sent = {**body, "agent": agent.pk} if isinstance(body.get("agent"), int) else body
        answers.append(call(app, "/api/v1/spans", sent, HTTP_AUTHORIZATION=f"Bearer {write_key}"))
    assert DJANGO in answers[0].by
    assert answers[0].status_code == answers[1].status_code


def test_the_span_api_for_another_projects_agent_is_djangos_404(foreign_agent, write_key):
    answer = call(application, "/api/v1/spans", {
        "agent": foreign_agent.pk, "phase": "start", "span_id": "x", "turn": 1,
        "tool_name": "Bash"}, HTTP_AUTHORIZATION=f"Bearer {write_key}")
    assert DJANGO in answer.by and answer.status_code == 404
