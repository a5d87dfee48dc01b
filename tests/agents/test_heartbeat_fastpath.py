"""The heartbeat fast path (apps/agents/fastpath.py) in front of the WSGI application: it answers
plain heartbeats exactly as the regular view would, and hands everything else to Django."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.agents.models import AgentCommand, AgentEvent, AgentStatus, CommandStatus
from apps.agents.services import agent_action, agent_touch
from config.wsgi import application, django_application
from tests.conftest import make_key
from tests.support import Answer, call

pytestmark = pytest.mark.django_db
PLAIN_HEADERS_IGNORED = {"content-length", "date"}


def beat(agent, key: str | None, body: Any = None, **headers: str) -> Answer:
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return call(application, f"/api/v1/agents/{agent.pk}/heartbeat", body, **headers)


FAST, DJANGO = "FastPath", "WSGIHandler"


def test_a_plain_heartbeat_is_answered_by_the_fast_path(agent, write_key):
    before = agent.last_heartbeat_at
    answer = beat(agent, write_key)
    assert answer.status_code == 200
    assert answer.by == {FAST}
    assert answer.json()["commands"] == []
    assert answer.json()["agent"]["id"] == agent.pk
    agent.refresh_from_db()
    assert agent.last_heartbeat_at > before
    # A heartbeat that repeats the current status or message is plain too.
    assert beat(agent, write_key, {"status": agent.status}).by == {FAST}


def test_it_answers_what_the_regular_view_answers(agent, write_key, make_agent):
    make_agent("helper", parent=agent, external_id="sub-1")
    from apps.agents.services import command_ack, task_assign

    task_assign(agent=agent, title="Fix the flaky test", priority=2)
    for command in AgentCommand.objects.filter(agent=agent):  # the "new task" command
        command_ack(command=command, result={})
    agent.refresh_from_db()
    fast = beat(agent, write_key)
    slow = call(django_application, f"/api/v1/agents/{agent.pk}/heartbeat", {},
                HTTP_AUTHORIZATION=f"Bearer {write_key}")
    assert fast.by == {FAST} and slow.by == {DJANGO}
    fast_json, slow_json = fast.json(), slow.json()
    for body in (fast_json, slow_json):
        body["agent"].pop("last_heartbeat_at")
        body["agent"].pop("age_seconds", None)
    assert fast_json == slow_json
    assert fast_json["agent"]["current_task"]["title"] == "Fix the flaky test"
    assert fast_json["agent"]["sub_agent_count"] == 1
    strip = lambda h: {k: v for k, v in h.items() if k not in PLAIN_HEADERS_IGNORED}  # noqa: E731
    assert strip(fast.headers) == strip(slow.headers)


def test_a_plain_heartbeat_costs_one_query_once_the_key_is_known(agent, write_key):
    beat(agent, write_key)
    with CaptureQueriesContext(connection) as ctx:
        assert beat(agent, write_key).by == {FAST}
    assert len(ctx.captured_queries) == 1, [q["sql"][:80] for q in ctx.captured_queries]
    assert ctx.captured_queries[0]["sql"].lstrip().startswith("UPDATE agents_agent")


def test_it_records_the_keys_last_use(agent, project):
    from apps.projects.models import ApiKey

    raw = make_key(project, "write", name="fresh")
    assert ApiKey.objects.get(name="fresh").last_used_at is None
    assert beat(agent, raw).by == {FAST}
    assert ApiKey.objects.get(name="fresh").last_used_at is not None


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no key", 401),
        ("unknown key", 401),
        ("read key", 403),
        ("another project's agent", 404),
        ("unknown agent", 404),
        ("not JSON", 400),
        ("a bad status", 400),
        ("over 1 MB", 413),
    ],
)
def test_errors_are_left_to_django(case, status, agent, foreign_agent, write_key, read_key):
    key, target = write_key, agent
    if case == "no key":
        key = None
    elif case == "unknown key":
        key = "sbk_" + "x" * 43
    elif case == "read key":
        key = read_key
    elif case == "another project's agent":
        target = foreign_agent
    elif case == "unknown agent":
        target = type(agent)(pk=999_999)
    path = f"/api/v1/agents/{target.pk}/heartbeat"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    if case == "not JSON":
        answer = call(application, path, raw=b"{nope", **headers)
    elif case == "a bad status":
        answer = call(application, path, {"status": "dancing"}, **headers)
    elif case == "over 1 MB":
        answer = call(application, path, {"message": "x" * (1024 * 1024 + 1)}, **headers)
    else:
        answer = call(application, path, {}, **headers)
    assert answer.status_code == status, answer.body
    assert DJANGO in answer.by
    assert answer.json()["error"]


def test_changes_go_through_the_regular_view(agent, write_key):
    answer = beat(agent, write_key, {"status": "working", "message": "compiling"})
    assert answer.by >= {DJANGO}
    assert answer.json()["agent"]["status"] == "working"
    assert AgentEvent.objects.filter(agent=agent, kind="agent.status_changed").exists()


def test_waiting_commands_are_delivered_by_the_regular_view(agent, write_key):
    command = agent_action(agent=agent, action="sleep")
    answer = beat(agent, write_key)
    assert answer.by >= {DJANGO}
    assert [c["id"] for c in answer.json()["commands"]] == [command.pk]
    assert AgentCommand.objects.get(pk=command.pk).status == CommandStatus.DELIVERED


def test_an_offline_agent_coming_back_goes_through_the_regular_view(agent, write_key):
    type(agent).objects.filter(pk=agent.pk).update(status=AgentStatus.OFFLINE)
    answer = beat(agent, write_key)
    assert answer.by >= {DJANGO}
    assert answer.json()["agent"]["status"] != AgentStatus.OFFLINE


def test_a_browser_request_with_an_origin_gets_cors_from_django(agent, write_key, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://dash.example.com"]
    answer = beat(agent, write_key, HTTP_ORIGIN="https://dash.example.com")
    assert answer.status_code == 200
    assert answer.by == {DJANGO}
    assert answer.headers["access-control-allow-origin"] == "https://dash.example.com"


def test_the_rate_limit_holds_on_the_fast_path(agent, write_key, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"write_key": "3/hour",
                                                          "write_ip": "1000/hour"}}
    answers = [beat(agent, write_key) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].by == {FAST}
    assert answers[3].by >= {DJANGO} and answers[3].headers["retry-after"]


def test_a_host_not_allowed_is_refused_by_django(agent, write_key):
    answer = beat(agent, write_key, HTTP_HOST="evil.example.com")
    assert answer.status_code == 400
    assert DJANGO in answer.by


def test_the_touch_commits_asynchronously_without_leaking_the_setting(agent, transactional_db):
    """PostgreSQL: the heartbeat's UPDATE is prepared once per connection and commits without
    waiting for the WAL flush; the setting ends with the statement. SQLite: the same UPDATE
    without either."""
    for _ in range(3):
        assert agent_touch(project_id=agent.project_id, agent_id=agent.pk) is not None
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
            cursor.execute("SELECT count(*) FROM pg_prepared_statements "
                           "WHERE statement LIKE '%%UPDATE agents_agent SET last_heartbeat_at%%'"
                           " AND statement LIKE '%%synchronous_commit%%'")
            assert cursor.fetchone()[0] == 1
        else:
            assert connection.vendor == "sqlite"
    agent.refresh_from_db()
    assert agent.last_heartbeat_at is not None


def test_heartbeats_update_the_agent_row_in_place(agent):
    """PostgreSQL: every heartbeat UPDATE is a HOT update (no index touched: last_heartbeat_at
    is not indexed, and the table leaves room on its pages). SQLite: no index on the column."""

    def counts() -> tuple[int, int]:
        # This backend's counts not yet flushed to the shared statistics: they may include
        # earlier tests' transactions (flushed at most once a second), so compare before and
        # after; nothing is flushed inside this test's transaction.
        with connection.cursor() as cursor:
            cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                           "WHERE relname = 'agents_agent'")
            return cursor.fetchone()

    before = counts() if connection.vendor == "postgresql" else (0, 0)
    for _ in range(40):
        assert agent_touch(project_id=agent.project_id, agent_id=agent.pk) is not None
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            after = counts()
            updated, hot = after[0] - before[0], after[1] - before[1]
            assert updated == 40 and hot / updated >= 0.9, (before, after)
            cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'agents_agent'")
            assert "fillfactor=85" in cursor.fetchone()[0]
        else:
            assert connection.vendor == "sqlite"
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' "
                           "AND tbl_name = 'agents_agent'")
            assert not [sql for (sql,) in cursor.fetchall() if sql and "last_heartbeat" in sql]


def test_an_agent_kept_alive_by_the_fast_path_still_goes_offline_when_silent(agent):
    """The fast path's timestamp is stored as the ORM stores it, so the offline sweep's
    conditional update (which compares the stored value) matches it on every database."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.agents.lifecycle import sweep_offline
    from apps.agents.models import Agent

    past = timezone.now() - timedelta(hours=2)
    assert agent_touch(project_id=agent.project_id, agent_id=agent.pk, now=past) is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_heartbeat_at FROM agents_agent WHERE id = %s", [agent.pk])
        stored = cursor.fetchone()[0]
    assert "+00:00" not in str(stored) or connection.vendor == "postgresql"
    assert sweep_offline() == 1
    assert Agent.objects.get(pk=agent.pk).status == "offline"


def test_request_signals_reach_any_receiver_other_than_djangos(agent, write_key):
    from django.core import signals

    seen: list[str] = []

    def started(**kwargs: Any) -> None:
        seen.append("started")

    def finished(**kwargs: Any) -> None:
        seen.append("finished")

    assert beat(agent, write_key).by == {FAST}
    assert seen == []
    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        assert beat(agent, write_key).by == {FAST}
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert seen == ["started", "finished"]
    seen.clear()
    assert beat(agent, write_key).by == {FAST}
    assert seen == []

