"""Prometheus metrics for `GET /metrics`, read from the database and the broker at scrape time.

Nothing is counted in process memory: every figure comes from PostgreSQL/SQLite or the broker
when Prometheus asks, so any web process answers the same (granian workers, `make run`).
The scrape costs a fixed number of queries whatever the number of projects, agents or events
it describes; each section is isolated, so one that fails is logged and reported as
`switchboard_scrape_section_ok{section=...} 0` while the rest still answers.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from apps.agents.models import Agent, AgentEvent, AgentStatus, ToolSpan
from apps.alerts.models import (
    ACTIVE_STATES,
    Alert,
    Delivery,
    DeliveryState,
    PendingEvaluation,
    Severity,
)
from apps.projects.models import Project

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
PREFIX = "switchboard_"
EVENT_WINDOWS = {"1m": timedelta(seconds=60), "5m": timedelta(minutes=5)}
# Deliveries still to send, and those given up on; "sent" only grows and says nothing.
DELIVERY_STATES = (DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.FAILED)
BROKER_TIMEOUT_SECONDS = 1.0

# A section yields metric families; it runs at every scrape and may raise.
Section = Callable[[], Iterable[Metric]]

# Extension point: other apps add their own sections here by name from AppConfig.ready().
# They run after the built-in ones, isolated the same way.
EXTRA_COLLECTORS: dict[str, Section] = {}


def gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=list(labels))


# --- sections ------------------------------------------------------------------------------
Projects = dict[int, tuple[str, bool]]


def _projects() -> Projects:
    """id -> (slug, archived) of every project: one query shared by the per-project sections."""
    return {pk: (slug, archived) for pk, slug, archived in
            Project.objects.order_by("id").values_list("id", "slug", "archived")}


def _per_project(projects: Projects, found: Iterable[int]) -> list[int]:
    """Active projects (shown at 0 when empty) and archived ones that still have figures."""
    found = set(found)
    return [pk for pk, (_, archived) in projects.items() if not archived or pk in found]


def agents_section(projects: Projects) -> Iterator[Metric]:
    rows = (Agent.objects.filter(archived_at__isnull=True).order_by()
            .values_list("project_id", "status").annotate(n=Count("id")))
    counts = {(project_id, status): n for project_id, status, n in rows}
    metric = gauge("agents", "Agents not archived, by project and status.", ["project", "status"])
    for pk in _per_project(projects, (p for p, _ in counts)):
        for status in AgentStatus.values:
            metric.add_metric([projects[pk][0], status], counts.get((pk, status), 0))
    yield metric


def recent_event_counts(now: datetime) -> dict[int, dict[str, int]]:
    """Events recorded per project in each window, in one query that reads only the window's
    rows: `created_at` has no index, so the window starts after the newest event older than
    it, found walking the primary key backwards (ids grow with time; an event committed late
    with an older timestamp can at most hide a few rows just before it). The upper bound
    changes no result: without it SQLite, which keeps no statistics here, walks the whole
    (project, id) index for the GROUP BY instead of the id range (66 ms against 0.3 ms at a
    million events; PostgreSQL takes the range either way)."""
    widest = max(EVENT_WINDOWS.values())
    newest = AgentEvent.objects.order_by("-id").values("id")[:1]
    before = (AgentEvent.objects.filter(created_at__lt=now - widest).order_by("-id")
              .values("id")[:1])
    counters = {name: Count("id", filter=Q(created_at__gte=now - span))
                for name, span in EVENT_WINDOWS.items()}
    rows = (AgentEvent.objects
            .filter(id__gt=Coalesce(Subquery(before), Value(0)), id__lte=Subquery(newest),
                    created_at__gte=now - widest)
            .order_by().values("project_id").annotate(**counters))
    return {row.pop("project_id"): row for row in rows}


def events_section(projects: Projects) -> Iterator[Metric]:
    counts = recent_event_counts(timezone.now())
    metric = gauge("events_recent", "Agent events recorded in the last minute (window=1m) "
                   "or five minutes (window=5m), by project.", ["project", "window"])
    for pk in _per_project(projects, counts):
        for window in EVENT_WINDOWS:
            metric.add_metric([projects[pk][0], window], counts.get(pk, {}).get(window, 0))
    yield metric


def table_rows_section() -> Iterator[Metric]:
    """PostgreSQL's own estimate of the big tables' sizes (free to read; counting is not).
    SQLite keeps no estimate, so nothing is exported there."""
    if connection.vendor != "postgresql":
        return
    tables = [AgentEvent._meta.db_table, ToolSpan._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples FROM pg_class WHERE oid = ANY(%s::regclass[])",
                       [tables])
        rows = cursor.fetchall()
    metric = gauge("table_rows_estimate", "Rows in a table as PostgreSQL estimates them "
                   "(pg_class.reltuples, refreshed by autovacuum/ANALYZE).", ["table"])
    for table, estimate in rows:
        if estimate >= 0:  # -1: never analysed yet
            metric.add_metric([table], estimate)
    yield metric


def queue_depths(queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each Celery queue on the configured broker; raises when it is
    unreachable."""
    url = settings.CELERY_BROKER_URL
    scheme = urlparse(url).scheme
    if scheme in {"redis", "rediss", "unix"}:
        return _redis_queue_depths(url, queues)
    if scheme == "sbfs":
        return _folder_queue_depths(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"],
                                    queues)
    raise ValueError(f"cannot read queue depths from a {scheme}:// broker")


def _redis_queue_depths(url: str, queues: Iterable[str]) -> dict[str, int]:
    """A kombu queue on Redis is a list named after it, plus one list per priority step."""
    import redis
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    def lists(queue: str) -> list[str]:
        return [queue if not step else f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS]

    queues = list(queues)
    client = redis.Redis.from_url(url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
                                  socket_timeout=BROKER_TIMEOUT_SECONDS)
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                for name in lists(queue):
                    pipe.llen(name)
            lengths = pipe.execute()
    finally:
        client.close()
    steps = len(PRIORITY_STEPS)
    return {queue: sum(lengths[i * steps:(i + 1) * steps]) for i, queue in enumerate(queues)}


def _folder_queue_depths(folder: str, queues: Iterable[str]) -> dict[str, int]:
    """The embedded broker keeps one `<order>.<queue>.msg` file per message
    (apps/core/embedded_broker.py); a `.part` file is one still being written."""
    depths = dict.fromkeys(queues, 0)
    for name in os.listdir(folder):
        queue = name.partition(".")[2].removesuffix(".msg")
        if queue in depths and name.endswith(".msg"):
            depths[queue] += 1
    return depths


def queue_section() -> Iterator[Metric]:
    up = gauge("queue_up", "1 when the Celery broker answered this scrape, 0 when it did not.")
    try:
        depths = queue_depths([settings.CELERY_TASK_DEFAULT_QUEUE])
    except Exception as exc:  # a broker that is down is a figure here, not a failed scrape
        logger.warning("metrics: broker unreachable: %s: %s", type(exc).__name__, exc)
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    metric = gauge("queue_depth", "Celery tasks waiting in the broker's queue.", ["queue"])
    for queue, depth in depths.items():
        metric.add_metric([queue], depth)
    yield metric


def alerts_section() -> Iterator[Metric]:
    rows = (Alert.objects.filter(state__in=ACTIVE_STATES).order_by()
            .values_list("severity", "state").annotate(n=Count("id")))
    counts = {(severity, state): n for severity, state, n in rows}
    metric = gauge("alerts", "Alerts not resolved yet, by severity and state.",
                   ["severity", "state"])
    for severity in Severity.values:
        for state in ACTIVE_STATES:
            metric.add_metric([severity, state], counts.get((severity, state), 0))
    yield metric


def deliveries_section() -> Iterator[Metric]:
    rows = (Delivery.objects.filter(state__in=DELIVERY_STATES).order_by()
            .values_list("state").annotate(n=Count("id")))
    counts = dict(rows)
    metric = gauge("alert_deliveries", "Notification deliveries waiting to be sent (pending), "
                   "waiting for a retry (retrying), or given up on (failed).", ["state"])
    for state in DELIVERY_STATES:
        metric.add_metric([state], counts.get(state, 0))
    yield metric
    waiting = gauge("alert_evaluations_pending", "Recorded events the alert engine has yet to "
                    "evaluate.")
    waiting.add_metric([], PendingEvaluation.objects.count())
    yield waiting


def builtin_sections() -> dict[str, Section]:
    projects = functools.cache(_projects)  # a fresh cache per scrape: read at most once
    return {
        "agents": lambda: agents_section(projects()),
        "events": lambda: events_section(projects()),
        "table_rows": table_rows_section,
        "queue": queue_section,
        "alerts": alerts_section,
        "deliveries": deliveries_section,
        "rollups": rollups_section,
    }


def rollups_section() -> Iterable[Metric]:
    from apps.telemetry.rollups import lag_seconds

    lag = gauge("rollup_lag_seconds", "Age of the oldest event the rollups have not counted "
                "yet (0 when they are up to date).")
    lag.add_metric([], lag_seconds())
    yield lag



# --- the collector ---------------------------------------------------------------------------
class SwitchboardCollector:
    def collect(self) -> Iterator[Metric]:
        ok = gauge("scrape_section_ok", "1 when a section of this scrape was read, 0 when it "
                   "failed (see the server log).", ["section"])
        seconds = gauge("scrape_section_seconds", "Time taken to read a section of this scrape.",
                        ["section"])
        for name, section in {**builtin_sections(), **EXTRA_COLLECTORS}.items():
            started = time.perf_counter()
            try:
                families = list(section())
            except Exception:
                logger.exception("metrics: the %s section failed", name)
                families = []
                ok.add_metric([name], 0)
            else:
                ok.add_metric([name], 1)
            seconds.add_metric([name], time.perf_counter() - started)
            yield from families
        yield ok
        yield seconds


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(SwitchboardCollector())


def render() -> bytes:
    """The text exposition format (0.0.4) of every metric above."""
    return generate_latest(REGISTRY)
