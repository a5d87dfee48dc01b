"""GET /metrics: the Prometheus text format behind a bearer token, read at scrape time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from apps.agents.models import Agent, AgentEvent, AgentStatus
from apps.alerts.models import Alert, Delivery, Notification, PendingEvaluation
from apps.core.embedded_broker import ALIAS
from apps.projects.models import Project
from apps.telemetry import metrics
from tests.support import free_port, missing, port_open

TOKEN = "metrics-0123456789-abcdefghij"


@pytest.fixture
def enabled(settings, db):
    settings.METRICS_TOKEN = TOKEN
    return settings


@pytest.fixture
def broker_folder(settings, tmp_path):
    """An embedded broker on its own folder, in either CI pass (with or without REDIS_URL)."""
    settings.CELERY_BROKER_URL = f"{ALIAS}://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path), "store_processed": False,
    }
    return tmp_path


def scrape(client, token: str = TOKEN):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def samples(response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(name, sorted labels): value} of every sample in a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found[(f"switchboard_{name}", tuple(sorted(labels.items())))]


def test_it_is_a_404_while_no_token_is_set(client, settings, db):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert scrape(client, "").status_code == 404
    assert client.post("/metrics").status_code == 404


def test_it_requires_the_token(client, enabled, owner):
    answers = [
        client.get("/metrics"),
        scrape(client, "wrong-token"),
        scrape(client, TOKEN[:-1]),
        scrape(client, "tökén"),  # not ASCII: compared as bytes, never a 500
        client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}"),
        client.get("/metrics", HTTP_AUTHORIZATION=TOKEN),
    ]
    client.force_login(owner)  # a session is not a token, an owner's neither
    answers.append(client.get("/metrics"))
    for response in answers:
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"switchboard_" not in response.content


def test_it_answers_the_token_without_csrf_or_session(enabled, broker_folder):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "no-cache" in response["Cache-Control"]
    assert "sessionid" not in response.cookies
    post = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert post.status_code == 405


def test_it_is_scraped_over_plain_http_when_https_is_enforced(enabled, broker_folder):
    from django.test import Client

    enabled.SECURE_SSL_REDIRECT = True  # read when the client builds its middleware
    client = Client()
    assert client.get("/agents/").status_code == 301
    assert scrape(client).status_code == 200


def test_it_counts_agents_by_project_and_status(client, enabled, broker_folder, project,
                                                other_project):
    for status, n in [("working", 3), ("blocked", 1), ("idle", 2)]:
        for i in range(n):
            Agent.objects.create(project=project, name=f"{status}-{i}", status=status)
    Agent.objects.create(project=other_project, name="e", status="error")
    Agent.objects.create(project=project, name="gone", status="stopped",
                         archived_at=timezone.now())
    Project.objects.create(name="Old", slug="old", archived=True)

    found = samples(scrape(client))

    assert value(found, "agents", project="apollo", status="working") == 3
    assert value(found, "agents", project="apollo", status="blocked") == 1
    assert value(found, "agents", project="apollo", status="idle") == 2
    assert value(found, "agents", project="apollo", status="stopped") == 0  # archived: left out
    assert value(found, "agents", project="zephyr", status="error") == 1
    for status in AgentStatus.values:  # every status, even at 0
        assert ("switchboard_agents", (("project", "zephyr"), ("status", status))) in found
    assert not [key for key in found if ("project", "old") in key[1]]  # archived and empty


def test_it_counts_recent_events_per_window(client, enabled, broker_folder, project,
                                            other_project):
    now = timezone.now()

    def events(n: int, age: timedelta, where: Project = project) -> None:
        for _ in range(n):
            event = AgentEvent.objects.create(project=where, kind="agent.heartbeat")
            AgentEvent.objects.filter(pk=event.pk).update(created_at=now - age)

    events(4, timedelta(minutes=10))  # before both windows
    events(2, timedelta(minutes=3))
    events(3, timedelta(seconds=5))
    events(1, timedelta(seconds=20), other_project)

    found = samples(scrape(client))

    assert value(found, "events_recent", project="apollo", window="1m") == 3
    assert value(found, "events_recent", project="apollo", window="5m") == 5
    assert value(found, "events_recent", project="zephyr", window="1m") == 1
    assert value(found, "events_recent", project="zephyr", window="5m") == 1


def test_it_counts_active_alerts_and_waiting_deliveries(client, enabled, broker_folder, project):
    def alert(n: int, state: str, severity: str) -> Alert:
        return Alert.objects.create(project=project, dedupe_key=f"r:{n}", state=state,
                                    severity=severity, event_kind="agent.blocked", title="t")

    alert(1, "open", "critical")
    alert(2, "open", "critical")
    alert(3, "acknowledged", "warning")
    alert(4, "resolved", "critical")
    notification = Notification.objects.create(subject="project:1", state="sent", title="t")
    for state in ["pending", "pending", "retrying", "failed", "sent"]:
        Delivery.objects.create(notification=notification, channel="email", target="x",
                                state=state)
    PendingEvaluation.objects.create(event_id=12345)

    found = samples(scrape(client))

    assert value(found, "alerts", severity="critical", state="open") == 2
    assert value(found, "alerts", severity="warning", state="acknowledged") == 1
    assert value(found, "alerts", severity="info", state="open") == 0
    assert not [key for key in found if ("state", "resolved") in key[1]]
    assert value(found, "alert_deliveries", state="pending") == 2
    assert value(found, "alert_deliveries", state="retrying") == 1
    assert value(found, "alert_deliveries", state="failed") == 1
    assert value(found, "alert_evaluations_pending") == 1
    assert all(value(found, "scrape_section_ok", section=name) == 1
               for name in metrics.builtin_sections())


def test_its_query_count_does_not_grow_with_projects_or_agents(
        client, enabled, broker_folder, project, django_assert_max_num_queries):
    Agent.objects.create(project=project, name="a", status="working")
    AgentEvent.objects.create(project=project, kind="agent.heartbeat")
    with CaptureQueriesContext(connection) as small:
        assert scrape(client).status_code == 200
    assert len(small) <= 9  # 7 + the rollup lag: its watermark and the oldest uncounted event

    for p in range(20):
        more = Project.objects.create(name=f"P{p}", slug=f"p{p}")
        for a in range(10):
            agent = Agent.objects.create(project=more, name=f"a{a}", status="idle")
            AgentEvent.objects.create(project=more, agent=agent, kind="agent.heartbeat")
        Alert.objects.create(project=more, dedupe_key=f"r:{p}", event_kind="agent.error",
                             title="t")
    with django_assert_max_num_queries(len(small)):
        found = samples(scrape(client))
    assert value(found, "agents", project="p19", status="idle") == 10


def test_it_counts_the_embedded_queue(client, enabled, settings, broker_folder):
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with Connection(f"{ALIAS}://",
                    transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS) as conn:
        for n in range(2):
            conn.default_channel._put(queue, {"n": n})
        conn.default_channel._put("another-queue", {"n": 9})
    (broker_folder / f"1_x.{queue}.msg.part").write_bytes(b"")  # still being written

    found = samples(scrape(client))

    assert value(found, "queue_up") == 1
    assert value(found, "queue_depth", queue=queue) == 2


def test_it_reads_the_redis_queue_length(client, enabled, settings):
    import redis

    if not port_open("127.0.0.1", 6379):
        missing("Redis is not reachable at 127.0.0.1:6379")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/11"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue = f"metrics-test-{uuid.uuid4().hex}"
    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        r.lpush(queue, "a", "b", "c")
        found = samples(scrape(client))
    finally:
        r.delete(queue)
        r.close()
    assert value(found, "queue_up") == 1
    assert value(found, "queue_depth", queue=queue) == 3


def test_a_broker_that_is_down_is_queue_up_0(client, enabled, settings, project):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/11"  # nothing listens

    response = scrape(client)

    assert response.status_code == 200
    found = samples(response)
    assert value(found, "queue_up") == 0
    assert not [key for key in found if key[0] == "switchboard_queue_depth"]
    assert value(found, "scrape_section_ok", section="queue") == 1
    assert value(found, "agents", project="apollo", status="idle") == 0


def test_a_failing_collector_leaves_the_rest_of_the_scrape(client, enabled, broker_folder,
                                                          monkeypatch):
    def broken():
        raise RuntimeError("boom")

    def lag():
        metric = metrics.gauge("test_lag_seconds", "A test extension.")
        metric.add_metric([], 4.5)
        yield metric

    monkeypatch.setitem(metrics.EXTRA_COLLECTORS, "broken", broken)
    monkeypatch.setitem(metrics.EXTRA_COLLECTORS, "lag", lag)

    response = scrape(client)

    assert response.status_code == 200
    found = samples(response)
    assert value(found, "scrape_section_ok", section="broken") == 0
    assert value(found, "scrape_section_ok", section="lag") == 1
    assert value(found, "test_lag_seconds") == 4.5
    assert value(found, "scrape_section_ok", section="agents") == 1


def test_the_rollup_lag_is_the_age_of_the_oldest_uncounted_event(client, enabled, broker_folder,
                                                                 project, settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.agents.models import AgentEvent
    from apps.telemetry.rollups import roll_up

    settings.TELEMETRY_ROLLUP_LAG_SECONDS = 0
    roll_up()
    assert value(samples(scrape(client)), "rollup_lag_seconds") == 0
    AgentEvent.objects.create(project=project, kind="note")
    AgentEvent.objects.filter(kind="note").update(
        created_at=timezone.now() - timedelta(minutes=10))
    assert 590 < value(samples(scrape(client)), "rollup_lag_seconds") < 700
    roll_up()
    assert value(samples(scrape(client)), "rollup_lag_seconds") == 0
