"""Rollup speed, and the Analytics page over a long range.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python benchmarks/rollups.py [--events 1000000] [--rounds 3]

Runs on a throwaway test database next to DATABASE_URL (PostgreSQL), never on real data.

1. rollup: --events raw events plus as many `span.finished` events (tool calls with latency and
   outcome), spread over 2 days, 10 projects, 200 agents (about 9 events per agent per
   5 minutes: a busy fleet). Interleaved rounds of
   - raw:    the equivalent single SQL statements, `INSERT … SELECT … GROUP BY` into empty
             5-minute rollup tables (events by kind; tool calls with the latency histogram;
             each per agent and summed over every agent, the rows the engine writes);
   - engine: apps.telemetry.rollups.roll_events() into 5-minute buckets only, behind its
             watermark in chunks of CHUNK ids with ON CONFLICT upserts;
   - engine, all grains: the same into 5-minute, hourly and daily buckets (what beat runs).
   Target (issue 12): engine >= 0.7x the speed of raw, in the same run.
2. page: rollup rows for 90 days of 1,000 agents on 20 models (daily rows for 90 days, hourly
   rows for the hours an agent was active, 5-minute rows for the last 2 days), then
   GET /analytics/ for 24h, 7d, 30d and 90d grouped by project, agent and model: server time
   (in-process, no network) median and p95, and queries per request.
   Target: 90 days p95 <= 200 ms, query count constant in the range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    raise SystemExit("set DATABASE_URL to a PostgreSQL server")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

AGENTS = 1000
RAW_AGENTS = 200
PROJECTS = 10
MODELS = 20


def sql(statement: str) -> None:
    """One statement without parameters (so % is the modulo operator)."""
    with connection.cursor() as cursor:
        cursor.execute(statement)


def seed_fleet() -> tuple[int, int]:
    """10 projects and 1,000 agents on 20 models (once); their first ids."""
    from apps.agents.models import Agent
    from apps.projects.models import Project

    if not Project.objects.exists():
        projects = Project.objects.bulk_create(
            [Project(name=f"Project {i}", slug=f"p{i}") for i in range(PROJECTS)])
        Agent.objects.bulk_create([
            Agent(project=projects[i % PROJECTS], name=f"agent-{i}", external_id=f"a{i}",
                  model=f"model-{i % MODELS}") for i in range(AGENTS)])
    return (Project.objects.order_by("id").values_list("id", flat=True).first(),
            Agent.objects.order_by("id").values_list("id", flat=True).first())


def seed_raw(n: int) -> None:
    first_project, first_agent = seed_fleet()
    common = f"""
        INSERT INTO agents_agentevent (project_id, agent_id, kind, data, actor_label, ts,
                                       created_at)
        SELECT {first_project} + (i % {RAW_AGENTS}) % {PROJECTS},
               {first_agent} + i % {RAW_AGENTS},
               KIND, DATA, '', now() - (i * interval '1 second') * (172800.0 / {n}),
               now() - interval '1 hour'
        FROM generate_series(1, {n}) AS i"""
    kinds = "(ARRAY['task.progress','agent.error','note','command.acked'])[1 + i % 4]"
    sql(common.replace("KIND", kinds).replace("DATA", "'{}'::jsonb"))
    spans = """jsonb_build_object('tool_name', (ARRAY['Bash','Read','Edit','Grep','Write',
               'WebFetch'])[1 + i % 6], 'latency_ms', (random() * random() * 20000)::int,
               'outcome', CASE WHEN i % 17 = 0 THEN 'error' ELSE 'ok' END)"""
    sql(common.replace("KIND", "'span.finished'").replace("DATA", spans))
    sql("ANALYZE agents_agentevent")


def raw_rollup() -> float:
    from apps.telemetry import rollups

    began = time.perf_counter()
    with connection.cursor() as cursor:
        upper = rollups.readable_event_id(django.utils.timezone.now())
        for every in (False, True):  # the same rows the engine writes: per agent and summed
            cursor.execute(rollups._events_sql(300, every).split("ON CONFLICT")[0], [0, upper])
            cursor.execute(rollups._spans_sql(300, every).split("ON CONFLICT")[0], [0, upper])
    return time.perf_counter() - began


def engine_rollup(grains: tuple[int, ...]) -> float:
    from apps.telemetry import rollups

    saved = rollups.GRAINS
    rollups.GRAINS = grains
    try:
        began = time.perf_counter()
        rollups.roll_events()
        return time.perf_counter() - began
    finally:
        rollups.GRAINS = saved


def reset() -> None:
    sql("TRUNCATE telemetry_eventrollup, telemetry_spanrollup, telemetry_statusrollup, "
        "telemetry_watermark")


def bench_rollup(args: argparse.Namespace) -> None:
    n = args.events
    print(f"seeding {n:,} events + {n:,} span.finished events ...", flush=True)
    began = time.perf_counter()
    seed_raw(n)
    print(f"  seeded in {time.perf_counter() - began:.1f} s")
    results: dict[str, list[float]] = {"raw": [], "engine": [], "engine, 3 grains": []}
    for r in range(args.rounds):
        for name, run in (("raw", raw_rollup), ("engine", lambda: engine_rollup((300,))),
                          ("engine, 3 grains", lambda: engine_rollup((300, 3600, 86400)))):
            reset()
            sql("CHECKPOINT")
            results[name].append(run())
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in results.items()),
              flush=True)
    raw = statistics.median(results["raw"])
    rows = 2 * n
    print(f"\nrollup of {rows:,} raw rows into 5-minute buckets (median of {args.rounds}):")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"  {name:18s} {med:6.2f} s  {rows / med:>10,.0f} rows/s  {raw / med:4.2f}x raw")


def seed_rollups() -> None:
    """90 days of rollup rows for 1,000 agents on 20 models (SQL, set-based)."""
    from apps.telemetry.models import HISTOGRAM

    seed_fleet()
    reset()
    sql("TRUNCATE telemetry_usagerollup")
    hist = ", ".join(HISTOGRAM)
    hist_values = ", ".join("(random() * 3)::int" if i in range(8, 20) else "0"
                            for i in range(len(HISTOGRAM)))
    levels = (
        (86400, "date_bin('1 day', now(), TIMESTAMPTZ '2000-01-01') - d * interval '1 day'",
         "generate_series(0, 89)", "true"),
        (3600, "date_bin('1 hour', now(), TIMESTAMPTZ '2000-01-01') - d * interval '1 hour'",
         "generate_series(0, 90 * 24 - 1)", "extract(hour from now() - d * interval '1 hour') "
         "BETWEEN 8 AND 17 AND (a.id + d) % 5 < 3"),
        (300, "date_bin('5 minutes', now(), TIMESTAMPTZ '2000-01-01') - d * interval '5 min'",
         "generate_series(0, 2 * 288 - 1)", "(a.id + d / 12) % 5 < 2"),
    )
    for grain, start, series, active in levels:
        began = time.perf_counter()
        sql(f"""
            INSERT INTO telemetry_usagerollup (grain, start, project_id, agent_id, model, issue,
                person, calls, unknown, tokens_input, tokens_output, tokens_cache_read,
                tokens_cache_write, tokens_reasoning, cost_usd)
            SELECT {grain}, {start}, a.project_id, a.id, a.model, '', '', 10, 0, 20000, 3000,
                   150000, 5000, 0, 0.75
            FROM agents_agent a, {series} AS d WHERE {active}""")
        sql(f"""
            INSERT INTO telemetry_spanrollup (grain, start, project_id, agent_id, model, tool,
                calls, errors, latency_count, latency_sum_ms, {hist})
            SELECT {grain}, {start}, a.project_id, a.id, a.model, t, 30, 1, 30, 9000,
                   {hist_values}
            FROM agents_agent a, {series} AS d, unnest(ARRAY['Bash','Read','Edit']) AS t
            WHERE {active}""")
        sql(f"""
            INSERT INTO telemetry_statusrollup (grain, start, project_id, agent_id, status,
                seconds, unblocks, unblock_seconds)
            SELECT {grain}, {start}, a.project_id, a.id, s, {grain} / 2, 1, 60
            FROM agents_agent a, {series} AS d, unnest(ARRAY['working','blocked']) AS s
            WHERE {active}""")
        every(grain, hist)
        print(f"  grain {grain:>5} s rows in {time.perf_counter() - began:.1f} s", flush=True)
    for table in ("usagerollup", "spanrollup", "statusrollup"):
        sql(f"ANALYZE telemetry_{table}")
    with connection.cursor() as cursor:
        for table in ("usagerollup", "spanrollup", "statusrollup"):
            cursor.execute(f"SELECT count(*) FROM telemetry_{table}")
            print(f"  telemetry_{table}: {cursor.fetchone()[0]:,} rows")


def every(grain: int, hist: str) -> None:
    """The rows summed over every agent of a project (agent_id -1), as the rollup writes."""
    usage = ("calls, unknown, tokens_input, tokens_output, tokens_cache_read, "
             "tokens_cache_write, tokens_reasoning, cost_usd")
    spans = f"calls, errors, latency_count, latency_sum_ms, {hist}"
    for table, keys, measures in (("usagerollup", "model, issue, person", usage),
                                  ("spanrollup", "model, tool", spans),
                                  ("statusrollup", "status", "seconds, unblocks, unblock_seconds")):
        sums = ", ".join(f"SUM({m})" for m in measures.split(", "))
        sql(f"""INSERT INTO telemetry_{table} (grain, start, project_id, agent_id, {keys},
                    {measures})
                SELECT grain, start, project_id, -1, {keys}, {sums} FROM telemetry_{table}
                WHERE grain = {grain} AND agent_id >= 0
                GROUP BY grain, start, project_id, {keys}""")


def bench_page(args: argparse.Namespace) -> None:
    from django.test import Client

    from apps.accounts.models import User

    print("\nseeding 90 days of rollups for 1,000 agents on 20 models ...", flush=True)
    seed_rollups()
    user = User.objects.create_user("bench", password="x", role="viewer")
    client = Client()
    client.force_login(user)
    assert client.get("/analytics/", secure=True).status_code == 200
    print(f"\nGET /analytics/ (server time, {args.requests} requests each):")
    print(f"  {'range':6s} {'group by':9s} {'median':>8s} {'p95':>8s} {'queries':>8s}")
    for rng in ("24h", "7d", "30d", "90d"):
        for group in ("project", "agent", "model"):
            times, queries = [], set()
            for _ in range(args.requests):
                with CaptureQueriesContext(connection) as ctx:
                    began = time.perf_counter()
                    response = client.get(f"/analytics/?range={rng}&group_by={group}",
                                          secure=True)
                    times.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200
                queries.add(len(ctx))
            times.sort()
            p95 = times[max(int(len(times) * 0.95) - 1, 0)]
            print(f"  {rng:6s} {group:9s} {statistics.median(times):6.0f} ms {p95:6.0f} ms "
                  f"{'/'.join(map(str, sorted(queries))):>8s}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=None, help="event ids per transaction")
    parser.add_argument("--skip-rollup", action="store_true")
    parser.add_argument("--skip-page", action="store_true")
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = "test_rollups_benchmark"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    from django.conf import settings

    settings.TELEMETRY_ROLLUP_LAG_SECONDS = 0
    if args.chunk:
        from apps.telemetry import rollups

        rollups.CHUNK = args.chunk
    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    try:
        if not args.skip_rollup:
            bench_rollup(args)
        if not args.skip_page:
            bench_page(args)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
