"""Retention on PostgreSQL: what deleting a million old events costs the heartbeats.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python benchmarks/retention.py [--events 1000000] [--seconds 10] [--rate 1000]

What it does, on a scratch PostgreSQL database (created next to DATABASE_URL, dropped after):
- starts the Procfile's web server (granian, WSGI, 2 workers x 2 threads) and registers agents;
- fills, with INSERT ... SELECT generate_series: --events raw events 40 days old and a fifth
  as many 10 days old (kept: the window is 30 days), all counted by the rollups (their
  watermark); and spans with ~0.8 KB of input and output: --spans 20 days old (deleted: 14
  days), as many 5 days old (emptied: 3 days) and as many a day old. Then VACUUM ANALYZE;
- one client process keeps --clients keep-alive connections sending --rate heartbeats/s in
  all (a fleet reporting, not a flood; --rate 0 sends back to back) through all that follows;
  every request is time-stamped, and each phase's figures come from the requests sent in it:
  1. idle, for --seconds;
  2. while `manage.py telemetry retention` (its own process, as an operator runs it, pausing
     between chunks as beat does) deletes (the seconds it reports deleting, up to its exit:
     not Python and Django starting);
  3. while VACUUM cleans up after it (what autovacuum would do next);
  4. the same --events refilled (heartbeats stopped meanwhile), idle again and while
     `telemetry retention --pause 0` deletes them back to back;
- prints the command's report (rows per kind, rows/s) and, per table, bytes per row
  (pg_total_relation_size / rows) and live heap bytes per row (pgstattuple) before, and after
  the first retention and its VACUUM.
Target (issue 12): heartbeat p99 while retention deletes <= 2x idle.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest import (  # noqa: E402
    HOST,
    admin_exec,
    free_port,
    scratch_url,
    server_command,
    server_env,
    setup_data,
    stop_server,
)

TABLES = ("agents_agentevent", "agents_toolspan")


def start_web(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """As ingest.start_server, with the granian next to the interpreter running this script."""
    port = free_port()
    command = server_command("granian", port, 2, 2)
    command[0] = str(Path(sys.executable).parent / "granian")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2):
                return proc, port
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise SystemExit("granian did not start")


# --- data ---------------------------------------------------------------------------------------
def _pick(agents: list[int]) -> str:
    ids = "ARRAY[" + ",".join(map(str, agents)) + "]::bigint[]"
    return f"({ids})[1 + (i % {len(agents)})]"


def fill_events(count: int, project_id: int, agents: list[int], age: str = "40 days",
                first_id: int | None = None) -> None:
    """`count` events `age` old, one a millisecond, all counted by the rollups (watermark);
    with ids from `first_id` on rather than the sequence's."""
    from django.db import connection

    ids = ("id, ", f"{first_id} + i - 1, ") if first_id is not None else ("", "")
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO agents_agentevent ({ids[0]}project_id, agent_id, kind, data, actor_label,
                                           ts, created_at)
            SELECT {ids[1]}{project_id}, {_pick(agents)}, 'hook.post_tool_use',
                   jsonb_build_object('tool_name', 'Bash', 'n', i), '',
                   now() - interval '{age}' + i * interval '1 ms',
                   now() - interval '{age}' + i * interval '1 ms'
            FROM generate_series(1, {count}) i""")
        cursor.execute("INSERT INTO telemetry_watermark (name, position, updated_at) "
                       "SELECT 'events', max(id), now() FROM agents_agentevent "
                       "ON CONFLICT (name) DO UPDATE SET position = excluded.position")


def fill(events: int, spans: int, project_id: int, agents: list[int]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        # The agents' registration events are newer than what follows and would have lower
        # ids; retention reads ids as the order rows were stored (it stops at the first young
        # row), which only a backfill like this one breaks.
        cursor.execute("DELETE FROM agents_agentevent")
    fill_events(events, project_id, agents)
    fill_events(events // 5, project_id, agents, age="10 days")
    with connection.cursor() as cursor:
        for n, age in enumerate(("20 days", "5 days", "1 day")):
            cursor.execute(f"""
                INSERT INTO agents_toolspan (project_id, agent_id, span_id, turn, tool_name,
                    input, input_size, output, output_size, started_at, finished_at, latency_ms,
                    outcome, error, tokens_input, tokens_output, tokens_cache_read,
                    tokens_cache_write, tokens_reasoning, created_at, updated_at)
                SELECT {project_id}, {_pick(agents)}, 'b{n}-' || i, 1, 'Bash',
                       '{{"command": "npm test", "description": "run the tests"}}', 55,
                       repeat(md5(i::text), 22), 704,
                       now() - interval '{age}' + i * interval '1 ms',
                       now() - interval '{age}' + i * interval '1 ms' + interval '120 ms', 120,
                       'ok', '', 0, 0, 0, 0, 0,
                       now() - interval '{age}' + i * interval '1 ms',
                       now() - interval '{age}' + i * interval '1 ms'
                FROM generate_series(1, {spans}) i""")
    vacuum()


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")


def sizes() -> dict[str, dict[str, float]]:
    """Per table: rows, total size (heap, indexes, TOAST), the heap's live tuple bytes."""
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        for table in TABLES:
            cursor.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
            rows, total = cursor.fetchone()
            cursor.execute(f"SELECT tuple_len, free_percent FROM pgstattuple('{table}')")
            live, free = cursor.fetchone()
            out[table] = {"rows": rows, "total": total, "live": live, "free_pct": free}
    return out


# --- heartbeats from keep-alive clients, every request time-stamped ----------------------------
async def _client(port: int, key: str, agent: int, every: float, stop: Any, out: list) -> None:
    """Heartbeats on one keep-alive connection, one every `every` seconds (0: back to back)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    request = (f"POST /api/v1/agents/{agent}/heartbeat HTTP/1.1\r\nHost: {HOST}\r\n"
               f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
               "Content-Length: 2\r\n\r\n{}").encode()
    due = time.perf_counter() + every * (agent % 97) / 97  # spread the clients out
    while not stop.is_set():
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        due = max(due + every, time.perf_counter() - every)  # late: no burst to catch up
        sent, began = time.time(), time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        out.append((sent, time.perf_counter() - began, int(head[9:12])))
    writer.close()


def _clients(port: int, key: str, agents: list[int], every: float, stop: Any,
             queue: Any) -> None:
    out: list[tuple[float, float, int]] = []

    async def main() -> None:
        await asyncio.gather(*(_client(port, key, a, every, stop, out) for a in agents))

    asyncio.run(main())
    queue.put(out)


class Heartbeats:
    """Heartbeats from one client process until the block ends; then figures for any span of
    wall-clock time (the requests sent inside it)."""

    def __init__(self, port: int, data: dict, clients: int, rate: float) -> None:
        self.stop, self.queue = mp.Event(), mp.Queue()
        agents = [data["agents"][i % len(data["agents"])] for i in range(clients)]
        every = clients / rate if rate else 0.0
        self.proc = mp.Process(target=_clients,
                               args=(port, data["key"], agents, every, self.stop, self.queue))
        self.samples: list[tuple[float, float, int]] = []

    def __enter__(self) -> Heartbeats:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.samples = self.queue.get(timeout=60)
        self.proc.join(timeout=10)

    def figures(self, start: float, end: float) -> dict[str, float]:
        inside = [(lat, status) for sent, lat, status in self.samples if start <= sent <= end]
        ok = sorted(lat for lat, status in inside if status == 200)
        n = len(ok)

        def pct(q: float) -> float:
            return ok[min(int(q * n), n - 1)] * 1000 if n else float("nan")

        return {"seconds": end - start, "rate": n / (end - start), "p50": pct(0.5),
                "p99": pct(0.99), "errors": len(inside) - n}


def timed(action: Any) -> tuple[float, float, Any]:
    start = time.time()
    result = action()
    return start, time.time(), result


DONE = re.compile(r"([\d,]+) rows in ([\d.]+) s \(([\d,]+) rows/s\)")


def run_command(env: dict[str, str], pause: float | None = None) -> tuple[float, float, str]:
    """Runs the command; returns the wall-clock span of its deleting (the seconds it reports,
    ending when it exits: Python and Django starting up are not retention) and its output."""
    command = [sys.executable, "manage.py", "telemetry", "retention"]
    if pause is not None:
        command += ["--pause", str(pause)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    end = time.time()
    found = DONE.search(done.stdout)
    if done.returncode or not found:
        raise SystemExit(f"telemetry retention failed:\n{done.stdout}{done.stderr}")
    return end - float(found.group(2)), end, done.stdout


# --- the run ------------------------------------------------------------------------------------
LABELS = {
    "idle": "idle",
    "retention": "while `telemetry retention` deletes",
    "vacuum": "while VACUUM cleans up after it",
    "idle, again": "idle (after a refill)",
    "fast": "while `telemetry retention --pause 0` deletes",
}
IDLE = {"retention": "idle", "vacuum": "idle", "fast": "idle, again"}


def report(args: argparse.Namespace, loads: dict[str, Heartbeats], windows: dict, said: dict,
           before: dict, after: dict) -> None:
    print("\n`manage.py telemetry retention` said:")
    print("  " + said["retention"].strip().replace("\n", "\n  "))
    pace = f"{args.rate:g}/s offered" if args.rate else "back to back"
    print(f"\nheartbeats, {args.clients} keep-alive clients, {pace} "
          "(granian 2 workers x 2 threads)")
    print(f"  {'':<52} {'s':>5} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    figures = {key: loads[key].figures(*windows[key]) for key in LABELS}
    for key, label in LABELS.items():
        f = figures[key]
        print(f"  {label:<52} {f['seconds']:>5.1f} {f['rate']:>6.0f} {f['p50']:>7.1f} "
              f"{f['p99']:>7.1f} {f['errors']:>6}")
    for key, idle in IDLE.items():
        ratio = figures[key]["p99"] / figures[idle]["p99"]
        print(f"  p99 {LABELS[key]} / {LABELS[idle]}: {ratio:.2f}x "
              f"(target <= 2x: {'met' if ratio <= 2 else 'missed'})")
    for key, how in (("retention", "with pauses (the default, as beat)"),
                     ("fast", "back to back (--pause 0)")):
        rows, seconds, rate = DONE.search(said[key]).groups()
        print(f"  deleting {how}: {rows} rows in {seconds} s, {rate} rows/s")
    print("\nbytes per row (total relation size / rows; live: heap tuple bytes / rows)")
    for table in TABLES:
        lines = []
        for when, s in (("before", before[table]), ("after retention, VACUUM", after[table])):
            rows = max(s["rows"], 1)
            lines.append(f"    {when}: {s['rows']:,} rows, {s['total'] / 2**20:.0f} MiB, "
                         f"{s['total'] / rows:.0f} B/row, live {s['live'] / rows:.0f} B/row, "
                         f"{s['free_pct']:.0f} % of the heap free for new rows")
        print(f"  {table}:\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--spans", type=int, default=100_000, help="per age (three ages)")
    parser.add_argument("--seconds", type=float, default=10.0, help="the idle phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="heartbeats/s offered by all clients together (0: back to back)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        raise SystemExit("benchmarks/retention.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    name = f"sb_bench_retention_{os.getpid()}"
    admin_exec(base, f'CREATE DATABASE "{name}"')
    env = server_env(scratch_url(base, name), "")
    env["AGENTS_BENCHMARK_VIEWS"] = "false"
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    web = None
    windows: dict[str, tuple[float, float]] = {}
    said: dict[str, str] = {}
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                       env=env, check=True)
        import django

        django.setup()
        web, port = start_web(env)
        data = setup_data(args.clients, port)
        began = time.monotonic()
        fill(args.events, args.spans, data["project"], data["agents"])
        print(f"filled {args.events * 6 // 5:,} events and {args.spans * 3:,} spans in "
              f"{time.monotonic() - began:.1f} s (with VACUUM ANALYZE)")
        before = sizes()
        with Heartbeats(port, data, args.clients, args.rate) as load:
            time.sleep(2)  # warm: connections, the key cache
            windows["idle"] = timed(lambda: time.sleep(args.seconds))[:2]
            *windows["retention"], said["retention"] = run_command(env)
            windows["vacuum"] = timed(vacuum)[:2]
        vacuum()  # again, quiet: a transaction open elsewhere may have held the first one back
        after = sizes()
        # Again, back to back (--pause 0), with the ids just freed (older rows, lower ids), and
        # no heartbeats meanwhile: one INSERT of a million rows checks each one's agent (a
        # foreign key lock) while heartbeats update those agents, and slows to a crawl.
        fill_events(args.events, data["project"], data["agents"], first_id=1)
        vacuum()
        with Heartbeats(port, data, args.clients, args.rate) as fast_load:
            time.sleep(2)
            windows["idle, again"] = timed(lambda: time.sleep(args.seconds))[:2]
            *windows["fast"], said["fast"] = run_command(env, 0)
    finally:
        if web is not None:
            stop_server(web)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin_exec(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(args, {"idle": load, "retention": load, "vacuum": load, "idle, again": fast_load,
                  "fast": fast_load}, windows, said, before, after)


if __name__ == "__main__":
    main()
