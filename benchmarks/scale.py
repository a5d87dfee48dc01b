"""The cost of one ingest request against the size of the database, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python benchmarks/scale.py [--agents 10000] [--events 10000000] [--n 600]

Issue 15 asks that an event cost the same whether the team has 64 agents or 10,000, and a
thousand events or ten million. On a scratch database (created next to DATABASE_URL and
dropped afterwards) this measures, in this process and through the whole WSGI application
(config.wsgi, its fast paths included), each request kind an agent sends:

- a heartbeat (the fast path);
- a span start and a span finish, one event per request, as the Claude Code hooks send them;
- `POST /api/v1/spans` (starts and finishes alternately), the span API;
- a single non-span event (`hook.notification`, the regular DRF path);
- a batch of 100 events;

first on a small database (64 agents, no history), then after loading the history in bulk
(`--agents` agents, `--events` events, a fifth as many tool spans, 100,000 alerts, 50 alert
rules on other kinds) with INSERT … SELECT generate_series, copying a row made through the
ORM so every column is valid. For each request kind it prints the queries counted with
CaptureQueriesContext (they must not change) and the median and p95 of `--n` sequential
requests (one at a time, so the figure is the request's own cost, not queueing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest import admin_exec, scratch_drop, scratch_url, server_env, span_body  # noqa: E402

KINDS = ("heartbeat", "span start", "span finish", "POST /spans", "single event",
         "batch of 100")


def measure(key: str, agent_id: int, n: int) -> dict[str, tuple[int, float, float]]:
    """{kind: (queries, p50 ms, p95 ms)} through the WSGI application, one request at a time."""
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from config.wsgi import application

    factory, prefix = RequestFactory(), uuid.uuid4().hex

    def post(path: str, body: bytes) -> None:
        request = factory.post(path, data=body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {key}")
        status: list[str] = []
        b"".join(application(request.environ, lambda s, h, e=None: status.append(s)))
        assert status[0].startswith("20"), status

    def body(kind: str, i: int) -> tuple[str, bytes]:
        if kind == "heartbeat":
            return f"/api/v1/agents/{agent_id}/heartbeat", b"{}"
        if kind.startswith("span"):  # a start on even numbers, its finish on the next
            return "/api/v1/events", span_body(agent_id, prefix, 2 * i + (kind == "span finish"))
        if kind == "POST /spans":  # the span API itself, a start then its finish
            body = {"agent": agent_id, "span_id": f"{prefix}-api-{i // 2}", "tool_name": "Read",
                    "turn": 1, "phase": "finish" if i % 2 else "start"}
            body.update({"latency_ms": 5, "output": "done"} if i % 2 else {"input": "a.py"})
            return "/api/v1/spans", json.dumps(body).encode()
        count = 100 if kind == "batch of 100" else 1
        return "/api/v1/events", json.dumps({"events": [
            {"type": "hook.notification", "agent": agent_id,
             "idempotency_key": f"{prefix}-{kind[0]}-{i}-{j}", "data": {"message": "hi", "j": j}}
            for j in range(count)]}).encode()

    results = {}
    for kind in KINDS:
        rounds = n // 10 if kind == "batch of 100" else n
        order = ["span start", "span finish"] if kind.startswith("span") else [kind]
        for i in range(20):  # warm: the key cache, prepared statements
            for k in order:
                post(*body(k, 10_000_000 + i))
        times = []
        for i in range(rounds):
            if kind == "span finish":
                post(*body("span start", i))
            started = time.perf_counter()
            post(*body(kind, i))
            times.append((time.perf_counter() - started) * 1000)
        if kind == "span finish":
            post(*body("span start", rounds))
        with CaptureQueriesContext(connection) as ctx:
            post(*body(kind, rounds))
        times.sort()
        results[kind] = (len(ctx.captured_queries), statistics.median(times),
                         times[int(len(times) * 0.95)])
    return results


def clone(cursor, table: str, template_id: int, count: int, overrides: dict[str, str]) -> None:
    """`count` copies of one row of `table`, with `overrides` (SQL over the series `g`)."""
    cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                   "ORDER BY ordinal_position", [table])
    columns = [c for (c,) in cursor.fetchall() if c != "id"]
    values = ", ".join(overrides.get(c, f"t.{c}") for c in columns)
    cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "
                   f"FROM {table} t, generate_series(1, %s) g WHERE t.id = %s",
                   [count, template_id])


def load_history(project, agent, args: argparse.Namespace) -> None:
    from django.db import connection

    from apps.agents.models import AgentEvent, ToolSpan
    from apps.alerts.models import Alert, AlertRule

    event = AgentEvent.objects.create(project=project, agent=agent, kind="hook.post_tool_use",
                                      data={"tool_name": "Bash", "output": "x" * 200})
    span = ToolSpan.objects.create(project=project, agent=agent, span_id="template",
                                   tool_name="Bash", input='{"command": "ls"}')
    rule = AlertRule.objects.create(name="template", event_kind="hook.other", threshold=1)
    alert = Alert.objects.create(rule=rule, agent=agent, project=project, title="template",
                                 event_kind="hook.other", state="resolved",
                                 dedupe_key="template")
    with connection.cursor() as cursor:
        t0 = time.monotonic()
        clone(cursor, "agents_agent", agent.pk, args.agents, {
            "name": "'scale-' || g", "external_id": "'scale-' || g"})
        cursor.execute("SELECT min(id), max(id) FROM agents_agent WHERE name LIKE 'scale-%%'")
        low, high = cursor.fetchone()
        spread = f"({low} + g %% {high - low + 1})"
        print(f"  {args.agents:,} agents in {time.monotonic() - t0:.0f} s", flush=True)
        chunk = 1_000_000
        for start in range(0, args.events, chunk):
            t0 = time.monotonic()
            size = min(chunk, args.events - start)
            clone(cursor, "agents_agentevent", event.pk, size, {
                "agent_id": spread,
                "ts": f"now() - ((g + {start}) * interval '1 second' / 10)",
                "created_at": f"now() - ((g + {start}) * interval '1 second' / 10)"})
            print(f"  events {start + size:,} ({time.monotonic() - t0:.0f} s)", flush=True)
        t0 = time.monotonic()
        clone(cursor, "agents_toolspan", span.pk, args.events // 5, {
            "agent_id": spread, "span_id": "'s-' || g"})
        clone(cursor, "alerts_alertrule", rule.pk, 50, {"name": "'rule-' || g"})
        clone(cursor, "alerts_alert", alert.pk, 100_000, {
            "agent_id": spread, "dedupe_key": "'scale-' || g"})
        print(f"  {args.events // 5:,} spans, 50 rules, 100,000 alerts in "
              f"{time.monotonic() - t0:.0f} s", flush=True)
        t0 = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
        # The load left gigabytes of dirty pages: write them now, not during the timing.
        cursor.execute("CHECKPOINT")
        print(f"  VACUUM ANALYZE and CHECKPOINT in {time.monotonic() - t0:.0f} s", flush=True)
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"  database size {cursor.fetchone()[0]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--n", type=int, default=600, help="requests timed per kind")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        raise SystemExit("benchmarks/scale.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    name = f"sb_bench_scale_{os.getpid()}"
    admin_exec(base, f'CREATE DATABASE "{name}"')
    env = server_env(scratch_url(base, name), "")
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env=os.environ, check=True)
        import django

        django.setup()
        from apps.agents.models import Agent
        from apps.projects.models import ApiKey, Project

        project = Project.objects.create(name="Scale", slug="scale")
        raw, prefix, digest = ApiKey.generate()
        ApiKey.objects.create(project=project, name="scale", prefix=prefix, key_hash=digest)
        agents = [Agent.objects.create(project=project, name=f"agent-{i}", kind="claude-code",
                                       external_id=f"small-{i}") for i in range(64)]
        print(f"PostgreSQL {name}; {args.n} sequential requests per kind (batches: "
              f"{args.n // 10})", flush=True)
        small = measure(raw, agents[0].pk, args.n)
        print(f"loading {args.agents:,} agents and {args.events:,} events …", flush=True)
        load_history(project, agents[1], args)
        large = measure(raw, agents[2].pk, args.n)
        print(f"\n  {'request':<14}{'queries':>16}{'p50 ms':>20}{'p95 ms':>20}")
        print(f"  {'':<14}{'small → large':>16}{'small → large':>20}{'small → large':>20}")
        for kind in KINDS:
            (qs, p50s, p95s), (ql, p50l, p95l) = small[kind], large[kind]
            print(f"  {kind:<14}{f'{qs} → {ql}':>16}{f'{p50s:.2f} → {p50l:.2f}':>20}"
                  f"{f'{p95s:.2f} → {p95l:.2f}':>20}")
        print("  target: the same queries, and a cost that does not grow with the history")
    finally:
        scratch_drop(base, name, keep=args.keep)


if __name__ == "__main__":
    main()
