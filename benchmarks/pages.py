"""Server time and query counts of the control-room pages on a large data set.

    .venv/bin/python benchmarks/pages.py [--agents 1000] [--events 100000] [--requests 60]

Target (issue 4): overview and agents list with 1,000 agents and 100,000 events answer with a
server time p95 <= 150 ms, and their query count does not grow with the number of agents.
Runs on a throwaway test database (a temporary SQLite file, or test_pages_benchmark next to
DATABASE_URL), never on real data. Server time is measured around Django's test client (the
whole middleware stack, template rendering included; no network).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("SWITCHBOARD_DATA_DIR", tempfile.mkdtemp(prefix="sb-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("SECURE_HTTPS", "false")  # the test client speaks plain HTTP

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

STATUSES = ["working"] * 5 + ["idle"] * 3 + ["blocked", "error", "offline", "sleeping", "stopped"]
KINDS = ["claude-code", "opencode", "codex", "cursor", "custom"]
EVENT_KINDS = [
    "agent.status_changed",
    "span.finished",
    "span.started",
    "task.assigned",
    "task.completed",
    "agent.heartbeat",
    "hook.notification",
    "agent.blocked",
]


def seed(n_agents: int, n_events: int) -> tuple[object, object]:
    from apps.accounts.models import User
    from apps.agents.models import Agent, AgentEvent, AgentTask
    from apps.projects.models import Project

    rnd = random.Random(4)
    now = timezone.now()
    projects = [Project.objects.create(name=f"Project {i}", slug=f"p{i}") for i in range(3)]
    main = projects[0]
    agents = []
    for i in range(n_agents):
        project = main if i % 4 else projects[1 + i % 2]
        status = rnd.choice(STATUSES)
        agents.append(
            Agent(
                project=project,
                name=f"agent-{i:04d}",
                kind=rnd.choice(KINDS),
                model="claude-opus-4",
                external_id=f"sess-{i}",
                status=status,
                status_reason="waiting for review" if status == "blocked" else "",
                status_since=now - timedelta(seconds=rnd.randint(1, 86_400)),
                last_heartbeat_at=now - timedelta(seconds=rnd.randint(1, 3_600)),
            )
        )
    Agent.objects.bulk_create(agents, batch_size=500)
    agents = list(Agent.objects.order_by("id"))
    # A third of the agents are sub-agents of the first ones; half have a current task.
    children = []
    for i, a in enumerate(agents[: n_agents // 3]):
        a.parent_id = (
            agents[n_agents // 3 + i % 50].pk
            if a.project_id == agents[n_agents // 3 + i % 50].project_id
            else None
        )
        children.append(a)
    Agent.objects.bulk_update(children, ["parent"], batch_size=500)
    tasks = AgentTask.objects.bulk_create(
        [
            AgentTask(
                project_id=a.project_id, agent=a, title=f"Task for {a.name}", status="in_progress"
            )
            for a in agents[::2]
        ],
        batch_size=500,
    )
    for a, t in zip(agents[::2], tasks, strict=True):
        a.current_task_id = t.pk
    Agent.objects.bulk_update(agents[::2], ["current_task"], batch_size=500)
    batch: list[AgentEvent] = []
    for i in range(n_events):
        a = agents[rnd.randrange(len(agents))]
        batch.append(
            AgentEvent(
                project_id=a.project_id,
                agent=a,
                kind=rnd.choice(EVENT_KINDS),
                data={"message": f"event {i}"},
                ts=now - timedelta(seconds=n_events - i),
            )
        )
        if len(batch) == 5000:
            AgentEvent.objects.bulk_create(batch)
            batch.clear()
    AgentEvent.objects.bulk_create(batch)
    user = User.objects.create_user(username="bench", password="x", role="viewer")
    return main, user


def measure(client: Client, url: str, n: int) -> tuple[list[float], int]:
    client.get(url)  # warm templates and the session
    times = []
    queries = 0
    for _ in range(n):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
        queries = len(ctx.captured_queries)
    return times, queries


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()

    # No setup_test_environment(): it instruments every template render (a context copy per
    # template), which would triple the figures this script exists to measure.
    if connection.vendor != "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "test_pages_benchmark"
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        t0 = time.perf_counter()
        main_project, user = seed(args.agents, args.events)
        print(
            f"{connection.vendor}: seeded {args.agents} agents, {args.events} events "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        pages = [
            ("overview, all projects", "/?project=all"),
            ("overview, one project", f"/?project={main_project.slug}"),
            ("agents list, all", "/agents/?project=all"),
            ("agents list, filtered + sorted", "/agents/?project=all&status=attention&sort=since"),
            ("agents list, search, page 3", "/agents/?project=all&q=agent-0&page=3"),
            ("agents list, poll partial", "/agents/?project=all&partial=rows"),
            ("activity feed", "/activity/?project=all"),
            ("activity feed, kind filter", "/activity/?project=all&kind=task."),
        ]
        print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
        worst = 0.0
        for label, url in pages:
            times, queries = measure(client, url, args.requests)
            p95 = pct(times, 95)
            if label.startswith(("overview", "agents list")):
                worst = max(worst, p95)
            print(
                f"{label:34} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f} "
                f"{queries:8d}"
            )
        print(
            f"worst p95 of overview / agents list: {worst:.1f} ms (target <= 150 ms) -> "
            f"{'OK' if worst <= 150 else 'MISSED'}"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
