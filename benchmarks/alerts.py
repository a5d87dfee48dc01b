"""The alert engine: evaluation throughput and its cost to heartbeat ingestion.

    .venv/bin/python benchmarks/alerts.py [--events 3000] [--rules 50] [--heartbeats 1500]

Targets (issue 6): one worker evaluates >= 500 events/s against 50 rules; heartbeat ingestion
with the engine on stays within 5% of the speed with it off. Runs on a throwaway test database
(a temporary SQLite file, or a test_ database next to DATABASE_URL), never on real data.

1. engine:  engine.evaluate_event() in a loop, one thread, one event at a time.
2. drain:   engine.drain() over a backlog of waiting events, one thread: batches of
            engine.DRAIN_BATCH in one transaction each (what a worker's drain task does).
3. worker:  a real Celery worker with concurrency 1 on the configured broker (the embedded
            one, Redis with REDIS_URL): the reactor is called for each waiting event as after
            its commit (which enqueues drain tasks, at most one at a time), and the clock runs
            from a start marker task to an end marker task queued behind them.
4. steady:  a separate worker process (`celery worker --pool solo`, the Procfile's worker with
            concurrency 1) while this process records --rate events/s for --steady-seconds,
            ten per transaction with the reactor on, as ingestion does: how many wait at most
            and how soon after the last one all are evaluated.
5. ingest:  POST /api/v1/agents/{id}/heartbeat (each with a new message, so each records an
            event and reaches the reactor), alternating rounds with the engine on and off.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("SWITCHBOARD_DATA_DIR", tempfile.mkdtemp(prefix="sb-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("CELERY_QUEUE", f"bench-alerts-{os.getpid()}")  # no other worker's tasks

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

KINDS = ["agent.error", "agent.blocked", "task.completed", "agent.idle", "agent.offline"]
AGENT_KINDS = ["claude-code", "opencode", "codex", "cursor", "custom"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--heartbeats", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--rate", type=int, default=500, help="steady phase: events per second")
    parser.add_argument("--steady-seconds", type=int, default=10)
    parser.add_argument("--conn-max-age", type=int, default=None,
                        help="override CONN_MAX_AGE (the embedded SQLite default closes the "
                             "connection after every task)")
    args = parser.parse_args()

    if args.conn_max_age is not None:
        settings.DATABASES["default"]["CONN_MAX_AGE"] = args.conn_max_age
        connection.settings_dict["CONN_MAX_AGE"] = args.conn_max_age
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "test_alerts_benchmark"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(args)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


def seed(args: argparse.Namespace):
    from apps.agents.models import Agent
    from apps.alerts.models import AlertRule, TeamChannel
    from apps.projects.models import Project

    rnd = random.Random(6)
    # A realistic 50: each of 10 projects has its own take on the five default rules (some per
    # agent kind, some counting), so every event is checked against all 50 and matches a few.
    projects = [Project.objects.create(name=f"P{i}", slug=f"p{i}") for i in range(10)]
    AlertRule.objects.all().delete()
    for i in range(args.rules):
        AlertRule.objects.create(
            name=f"rule {i}", event_kind=KINDS[i % 5],
            project=projects[(i // 5) % 10],
            agent_kind=AGENT_KINDS[i % 5] if i % 4 == 0 else "",
            threshold=3 if KINDS[i % 5] == "agent.error" else 1, window_minutes=10,
            severity=["info", "warning", "critical"][i % 3],
            channels=["slack", "webhook"] if i % 2 else ["email"],
        )
    # Channels that accept nothing quickly would skew the run; deliveries are not measured.
    TeamChannel.objects.all().delete()
    agents = [
        Agent.objects.create(project=rnd.choice(projects), name=f"agent-{i}",
                             kind=AGENT_KINDS[i % 5], status="blocked")
        for i in range(args.agents)
    ]
    return projects, agents


def make_events(n: int, agents, rnd: random.Random) -> list[tuple[int, str, int]]:
    from apps.core.events import record_event

    out = []
    with transaction.atomic():
        for i in range(n):
            agent = rnd.choice(agents)
            kind = KINDS[i % 4]  # blocked agents: offline would not hold, so it is left out
            e = record_event(kind, project=agent.project, agent=agent,
                             data={"message": f"m{i}", "reason": "bench"}, publish=False)
            out.append((e.pk, kind, agent.project_id))
    return out


def bench_engine(events) -> float:
    from apps.alerts import engine

    t = time.perf_counter()
    for pk, kind, project_id in events:
        engine.evaluate_event(pk, kind=kind, project_id=project_id)
    return len(events) / (time.perf_counter() - t)


def bench_drain(events) -> float:
    from apps.alerts import engine

    t = time.perf_counter()
    engine.drain(budget_seconds=3600)
    return len(events) / (time.perf_counter() - t)


def bench_worker(events: list[tuple[int, str, int]]) -> float:
    """One worker (pool solo, concurrency 1) fed the way production feeds it: the reactor runs
    for each event as it would after the event's commit. The clock runs from a start marker to
    an end marker queued behind everything the reactor enqueued."""
    from celery.contrib.testing.worker import start_worker

    from apps.alerts.reactor import on_event
    from config.celery import app

    stamps: dict[str, float] = {}

    @app.task(name="bench.alerts.stamp")
    def stamp(name: str) -> None:
        stamps[name] = time.perf_counter()
        if name == "end":
            connection.close()  # the worker thread's, so the test database can be dropped

    connection.close()  # the worker thread opens its own connection
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False,
                      loglevel="WARNING", shutdown_timeout=30):
        stamp.delay("start")
        for pk, kind, project_id in events:
            on_event(pk, kind, project_id, None)
        stamp.delay("end")
        while "end" not in stamps:
            time.sleep(0.01)
    return len(events) / (stamps["end"] - stamps["start"])


def start_worker_process() -> tuple[Any, Any]:
    import subprocess

    from apps.core.db import database_url

    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "DEBUG": "false",
           "SECURE_HTTPS": "false", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"}
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
         "--concurrency", "1", "-l", "info", "-Q", settings.CELERY_TASK_DEFAULT_QUEUE],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    return proc, log


def wait_until_drained(timeout: float) -> bool:
    from apps.alerts.models import PendingEvaluation

    deadline = time.perf_counter() + timeout
    while PendingEvaluation.objects.exists():
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.02)
    return True


def bench_steady(args: argparse.Namespace, agents, rnd: random.Random) -> dict[str, float]:
    import threading

    from apps.alerts.models import PendingEvaluation
    from apps.core.events import record_event

    connection.close()
    worker, log = start_worker_process()
    # Ready when it has evaluated a first event.
    record_event(KINDS[0], project=agents[0].project, agent=agents[0], data={"message": "hello"})
    if not wait_until_drained(60):
        log.seek(0)
        worker.kill()
        raise SystemExit(f"the worker did not start:\n{log.read()[-3000:]}")
    waiting: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        from django.db import connection as own

        try:
            while not stop.is_set():
                waiting.append(PendingEvaluation.objects.count())
                stop.wait(0.25)
        finally:
            own.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    per_tx, n = 10, args.rate * args.steady_seconds
    started = time.perf_counter()
    try:
        for i in range(0, n, per_tx):
            due = started + i / args.rate
            if (pause := due - time.perf_counter()) > 0:
                time.sleep(pause)
            with transaction.atomic():
                for j in range(i, min(i + per_tx, n)):
                    agent = rnd.choice(agents)
                    record_event(KINDS[j % 4], project=agent.project, agent=agent,
                                 data={"message": f"s{j}", "reason": "bench"})
        produced = time.perf_counter()
        wait_until_drained(120)
        done = time.perf_counter()
    finally:
        stop.set()
        sampler.join()
        worker.terminate()
        worker.wait(30)
        log.close()
    half = len(waiting) // 2
    return {"events": n, "offered": n / (produced - started), "max_waiting": max(waiting or [0]),
            "median_waiting": statistics.median(waiting or [0]),
            "max_waiting_first_half": max(waiting[:half] or [0]),
            "max_waiting_second_half": max(waiting[half:] or [0]),
            "after_last_ms": (done - produced) * 1000, "rate": n / (done - started)}


def bench_ingest(args: argparse.Namespace, project) -> tuple[float, float]:
    from django.test import Client

    from apps.agents.models import Agent
    from apps.projects.models import ApiKey

    raw, prefix, digest = ApiKey.generate()
    ApiKey.objects.create(project=project, name="bench", prefix=prefix, key_hash=digest)
    agent = Agent.objects.create(project=project, name="heartbeater", status="working")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = f"/api/v1/agents/{agent.pk}/heartbeat"
    seq = [0]

    def round_(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            seq[0] += 1
            r = client.post(url, {"message": f"step {seq[0]}"}, content_type="application/json",
                            secure=True)  # production settings redirect plain HTTP
            assert r.status_code == 200, r.content[:200]
        return n / (time.perf_counter() - t)

    round_(200)  # warm up
    per_round = max(args.heartbeats // args.rounds, 50)
    on, off = [], []
    for i in range(args.rounds * 2):
        engine_on = i % 2 == 0
        settings.ALERTS_ENABLED = engine_on
        (on if engine_on else off).append(round_(per_round))
    settings.ALERTS_ENABLED = True
    return statistics.median(on), statistics.median(off)


def run(args: argparse.Namespace) -> None:
    from apps.agents.models import AgentEvent
    from apps.alerts import engine
    from apps.alerts.models import Alert, Notification, PendingEvaluation

    settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"write_key": "1000000/min",
                                                         "write_ip": "1000000/min"}
    rnd = random.Random(6)
    projects, agents = seed(args)
    mode = f"{connection.vendor}, broker {settings.CELERY_BROKER_URL.split(':')[0]}"
    print(f"alerts benchmark ({mode}): {args.rules} rules, {len(agents)} agents, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    events = make_events(args.events, agents, rnd)
    rate = bench_engine(events)
    alerts, notes = Alert.objects.count(), Notification.objects.count()
    print(f"  engine, per event: {rate:8.0f} events/s  ({args.events} events -> {alerts} alerts "
          f"opened, {notes} notifications; one transaction per event, for comparison)")

    PendingEvaluation.objects.all().delete()  # evaluated above, one by one
    backlog = make_events(args.events, agents, rnd)
    rate = bench_drain(backlog)
    print(f"  drain, 1 thread  : {rate:8.0f} events/s  (batches of {engine.DRAIN_BATCH}, one "
          f"transaction each)  target >= 500  {'OK' if rate >= 500 else 'MISS'}")

    backlog = make_events(args.events, agents, rnd)
    connection.close()
    rate = bench_worker(backlog)
    left = PendingEvaluation.objects.count()
    print(f"  Celery worker x1 : {rate:8.0f} events/s  (one worker draining, {left} left)  "
          f"target >= 500  {'OK' if rate >= 500 and not left else 'MISS'}")

    steady = bench_steady(args, agents, rnd)
    # Kept up: empty within a second of the last event (a worker short of the rate would end
    # with its deficit times the duration still waiting, e.g. 10% short: 500 events, a second).
    ok = steady["after_last_ms"] < 1000
    print(f"  steady, worker process: {steady['offered']:5.0f} events/s offered for "
          f"{args.steady_seconds} s ({steady['events']:.0f} events) while one worker process "
          f"drains; waiting: median {steady['median_waiting']:.0f}, max "
          f"{steady['max_waiting_first_half']:.0f} in the first half, "
          f"{steady['max_waiting_second_half']:.0f} in the second; all evaluated "
          f"{steady['after_last_ms']:.0f} ms after the last  "
          f"{'OK (kept up)' if ok else 'FELL BEHIND'}")

    before = AgentEvent.objects.count()
    on, off = bench_ingest(args, projects[0])
    recorded = AgentEvent.objects.count() - before
    delta = (off - on) / off * 100
    print(f"  heartbeat ingest : engine on {on:7.0f}/s, off {off:7.0f}/s, cost {delta:+.1f}% "
          f"({recorded} events recorded)  target <= 5%  {'OK' if delta <= 5 else 'MISS'}")


if __name__ == "__main__":
    main()
