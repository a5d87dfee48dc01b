"""Ingestion throughput of the agent API on the production serving set-up.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres [REDIS_URL=redis://127.0.0.1:6379/15] \
        .venv/bin/python benchmarks/ingest.py [--runs 3] [--seconds 8] [--server granian|gunicorn]

What it does, in one run on a scratch PostgreSQL database (created next to DATABASE_URL and
dropped afterwards):
- starts the web server as the Procfile does (granian, WSGI: 2 workers x 4 threads; or
  --server gunicorn with 4 sync workers) on 127.0.0.1 with DEBUG off;
- registers 64 agents over the API, then 64 concurrent clients send heartbeats with a project
  API key for a fixed time: requests/s and p50/p95/p99 latency. The clients keep their
  connection open, as the OpenCode plugin does; a second figure opens a new connection per
  request, as the Claude Code hook does;
- 8 concurrent clients post batches of 1,000 events (each with an idempotency key): events/s;
- 64 keep-alive clients post ONE event per request, as the Claude Code hook does: a span start
  then its finish (~1 KB with the output), each with an idempotency key: requests/s, latency,
  and the queries one start and one finish take through the whole WSGI application;
- the same starts and finishes through the span API (`POST /api/v1/spans`, flat bodies);
- the share of HOT updates of the agents table after the heartbeat phase (pg_stat_user_tables);
- a bare Django view doing one INSERT (AGENTS_BENCHMARK_VIEWS, on for this server only) under
  the same 64 clients, and our heartbeat rate as a ratio to it;
- queries per heartbeat, counted in-process on the same database with CaptureQueriesContext,
  through the whole WSGI application (config.wsgi, the heartbeat fast path included).
Targets (issue 3): >= 1,000 heartbeats/s with p99 <= 50 ms, >= 20,000 events/s in batches,
<= 3 queries per heartbeat; (issue 15) >= 5,000 single events/s with p99 <= 30 ms, >= 1.5x the
bare view, <= 2 queries per event, >= 90 % HOT updates. With --runs N it prints each run and the medians.

Load comes from wrk (Debian package `wrk`; written in C, so the load generator takes little
of the two cores) with a Lua script per phase. Without wrk, and for the batch phase, it comes
from a few client processes running asyncio coroutines over raw HTTP/1.1 sockets. Loopback
only, bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOST = "127.0.0.1"
SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ingest"


# --- load generation (client processes) --------------------------------------------------
def _request(method: str, path: str, body: bytes, key: str | None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if key:
        head.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


OUTPUT = "x" * 700  # with the rest, a ~1 KB event, like a Claude Code PostToolUse


def span_body(agent_id: int, prefix: str, i: int) -> bytes:
    """One event per request, as the Claude Code hook sends: a span start, then its finish."""
    phase = "start" if i % 2 == 0 else "finish"
    data = {"span_id": f"{prefix}-{i // 2}", "tool_name": "Bash", "turn": 1}
    if phase == "start":
        data["input"] = '{"command": "npm test", "description": "run the tests"}'
    else:
        data.update(output=OUTPUT, latency_ms=120)
    return json.dumps({"events": [{"type": f"span.{phase}", "agent": agent_id,
                                   "idempotency_key": f"{prefix}-{i}", "data": data}]}).encode()


async def _one(port: int, payload: bytes) -> tuple[int, float]:
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(payload)
    data = await reader.read()
    writer.close()
    status = int(data[9:12]) if len(data) >= 12 else 0
    return status, time.perf_counter() - start


async def _client_loop(port: int, make_payload, warmup_end: float, end: float,
                       out: dict) -> None:
    i = 0
    while time.perf_counter() < end:
        payload = make_payload(i)
        i += 1
        try:
            status, latency = await _one(port, payload)
        except OSError:
            status, latency = -1, 0.0
        now = time.perf_counter()
        if warmup_end <= now <= end:
            out["statuses"][status] = out["statuses"].get(status, 0) + 1
            if status in (200, 201):
                out["latencies"].append(latency)


def _client_process(kind: str, port: int, clients: int, warmup: float, seconds: float,
                    args: dict, queue: mp.Queue) -> None:
    """One process running `clients` coroutines; reports latencies and status counts."""
    key = args["key"]

    def heartbeat(agent_id: int):
        payload = _request("POST", f"/api/v1/agents/{agent_id}/heartbeat", b"{}", key)
        return lambda i: payload

    def bare(_: int):
        payload = _request("POST", f"/api/v1/bench/insert?project={args['project']}", b"", None)
        return lambda i: payload

    def batch(agent_id: int):
        prefix = uuid.uuid4().hex

        def make(i: int) -> bytes:
            events = [{"type": "hook.post_tool_use", "agent": agent_id,
                       "idempotency_key": f"{prefix}-{i}-{n}",
                       "data": {"tool_name": "Bash", "n": n}} for n in range(args["batch"])]
            return _request("POST", "/api/v1/events", json.dumps({"events": events}).encode(),
                            key)

        return make

    def span(agent_id: int):
        prefix = uuid.uuid4().hex

        def make(i: int) -> bytes:
            return _request("POST", "/api/v1/events", span_body(agent_id, prefix, i), key)

        return make

    def spans_api(agent_id: int):
        prefix = uuid.uuid4().hex

        def make(i: int) -> bytes:
            body = {"agent": agent_id, "phase": "finish" if i % 2 else "start",
                    "span_id": f"{prefix}-{i // 2}", "tool_name": "Bash", "turn": 1}
            body.update({"latency_ms": 120, "output": OUTPUT} if i % 2 else {"input": "npm test"})
            return _request("POST", "/api/v1/spans", json.dumps(body).encode(), key)

        return make

    factory = {"heartbeat": heartbeat, "bare": bare, "batch": batch, "span": span,
               "spans_api": spans_api}[kind]
    out = {"latencies": [], "statuses": {}}

    async def main() -> None:
        t0 = time.perf_counter()
        warmup_end, end = t0 + warmup, t0 + warmup + seconds
        agents = args["agents"]
        await asyncio.gather(*(
            _client_loop(port, factory(agents[c % len(agents)]), warmup_end, end, out)
            for c in range(clients)
        ))

    asyncio.run(main())
    queue.put(out)


def load(kind: str, port: int, *, clients: int, procs: int, warmup: float, seconds: float,
         args: dict, target=None) -> dict:
    """`target` (default _client_process) runs in each client process with the arguments of
    _client_process; benchmarks/otlp.py passes its own."""
    target = target or _client_process
    queue: mp.Queue = mp.Queue()
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = []
    for i, n in enumerate(per):
        proc_args = {**args, "agents": args["agents"][i::procs] or args["agents"]}
        p = mp.Process(target=target, args=(kind, port, n, warmup, seconds, proc_args, queue))
        p.start()
        workers.append(p)
    results = [queue.get(timeout=warmup + seconds + 60) for _ in workers]
    for p in workers:
        p.join(timeout=10)
    latencies = sorted(x for r in results for x in r["latencies"])
    statuses: dict[int, int] = {}
    for r in results:
        for code, n in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    ok = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(int(q * ok), ok - 1)] * 1000 if ok else float("nan")

    return {"rate": ok / seconds, "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
            "ok": ok, "statuses": statuses}


# --- load generation with wrk ---------------------------------------------------------------
WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %.3f %.3f %.3f\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk_script(kind: str, args: dict, close: bool) -> str:
    headers = ['["Content-Type"] = "application/json"']
    if close:
        headers.append('["Connection"] = "close"')
    if kind == "heartbeat":
        headers.append(f'["Authorization"] = "Bearer {args["key"]}"')
        ids = ",".join(str(a) for a in args["agents"])
        return f"""
local ids = {{{ids}}}
local counter = 0
local headers = {{{", ".join(headers)}}}
request = function()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/agents/" .. ids[(counter % #ids) + 1] .. "/heartbeat",
                    headers, "{{}}")
end
""" + WRK_DONE
    if kind in ("span", "spans_api"):  # a span start, then its finish
        headers.append(f'["Authorization"] = "Bearer {args["key"]}"')
        ids = ",".join(str(a) for a in args["agents"])
        if kind == "span":  # one event per request, as the Claude Code hook sends it
            event = (
                "'{\"events\": [{\"type\": \"span.' .. phase .. '\", \"agent\": ' .. agent .. "
                "', \"idempotency_key\": \"' .. prefix .. \"-\" .. counter .. '\", \"data\": "
                "{\"span_id\": \"' .. span .. '\", ' .. fields .. '}}]}'")
            path = "/api/v1/events"
        else:  # the span API: flat bodies
            event = ("'{\"agent\": ' .. agent .. ', \"phase\": \"' .. phase .. "
                     "'\", \"span_id\": \"' .. span .. '\", ' .. fields .. '}'")
            path = "/api/v1/spans"
        return f"""
local ids = {{{ids}}}
local counter = 0
-- wrk's threads start with the same random seed: each gets its own number from setup().
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local prefix = nil
local headers = {{{", ".join(headers)}}}
local output = string.rep("x", 700)
request = function()
  if prefix == nil then
    prefix = tostring(os.time()) .. "-" .. tostring(tid) .. "-" .. tostring(math.random(1, 1000000000))
  end
  counter = counter + 1
  local span = prefix .. "-" .. math.floor(counter / 2)
  local agent = ids[(math.floor(counter / 2) % #ids) + 1]
  local phase, fields
  if counter % 2 == 0 then
    phase = "start"
    fields = '"tool_name": "Bash", "turn": 1, "input": "npm test"'
  else
    phase = "finish"
    fields = '"tool_name": "Bash", "turn": 1, "latency_ms": 120, "output": "' .. output .. '"'
  end
  return wrk.format("POST", "{path}", headers, {event})
end
""" + WRK_DONE
    return f"""
local headers = {{{", ".join(headers)}}}
local path = "/api/v1/bench/insert?project={args['project']}"
request = function() return wrk.format("POST", path, headers, "") end
""" + WRK_DONE


def load_wrk(kind: str, port: int, *, clients: int, warmup: float, seconds: float, args: dict,
             close: bool = False) -> dict:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(kind, args, close))

    def wrk(duration: float) -> str:
        return subprocess.run(
            ["wrk", "-d", f"{max(1, round(duration))}s", "-t", "2", "-c", str(clients), "--timeout", "10s",
             "-s", f.name, f"http://{HOST}:{port}"],
            capture_output=True, text=True, check=True).stdout

    try:
        if warmup:
            wrk(warmup)
        out = wrk(seconds)
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("WRKRESULT"))
    total, bad_status, socket_errors, duration_us, p50, p95, p99 = line.split()[1:]
    ok = int(total) - int(bad_status)
    return {"rate": ok / (float(duration_us) / 1e6), "p50": float(p50), "p95": float(p95),
            "p99": float(p99), "ok": ok,
            "statuses": {"non-2xx": int(bad_status), "socket errors": int(socket_errors)}}


def have_wrk() -> bool:
    import shutil

    return shutil.which("wrk") is not None


# --- the server and the scratch database ----------------------------------------------------
def scratch_url(base: str, name: str) -> str:
    parts = urlparse(base)
    return urlunparse(parts._replace(path=f"/{name}"))


def admin_exec(base: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql)


def scratch_drop(base: str, name: str, *, keep: bool) -> None:
    """After a benchmark: this process's connections closed, then its scratch database
    dropped, unless --keep."""
    from django.db import connections

    connections.close_all()
    if not keep:
        admin_exec(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(db_url: str, redis_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": SECRET, "DEBUG": "false",
           "SECURE_HTTPS": "false", "AGENTS_BENCHMARK_VIEWS": "true", "LOG_LEVEL": "WARNING",
           "DB_CONN_MAX_AGE": "600", "RATE_LIMIT_KEY": "100000000/min",
           "RATE_LIMIT_IP": "100000000/min", "ALLOWED_HOSTS": "127.0.0.1,testserver",
           "SWITCHBOARD_DATA_DIR": str(ROOT / "var" / "bench-ingest")}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def server_command(server: str, port: int, workers: int, threads: int) -> list[str]:
    venv = ROOT / ".venv" / "bin"
    if server == "granian":  # as the Procfile's web process
        return [str(venv / "granian"), "--interface", "wsgi", "--workers", str(workers),
                "--blocking-threads", str(threads), "--host", HOST, "--port", str(port),
                "--backlog", "2048", "--log-level", "warning", "--no-ws",
                "config.wsgi:application"]
    return [str(venv / "gunicorn"), "config.wsgi", "--workers", str(workers), "--bind",
            f"{HOST}:{port}", "--backlog", "2048", "--log-level", "warning"]


def start_server(env: dict[str, str], server: str, workers: int,
                 threads: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(server_command(server, port, workers, threads), cwd=ROOT, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, _ = asyncio.run(_one(port, _request("GET", "/healthz", b"", None)))
            if status:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{server} did not start")


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def setup_data(n_agents: int, port: int) -> dict:
    """Project and key through the ORM (in-process, same scratch database); agents over HTTP."""
    from apps.projects.models import ApiKey, Project

    project = Project.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}")
    raw, prefix, digest = ApiKey.generate()
    ApiKey.objects.create(project=project, name="bench", prefix=prefix, key_hash=digest)
    agents = []
    for i in range(n_agents):
        body = json.dumps({"name": f"agent-{i}", "kind": "claude-code",
                           "external_id": f"bench-{i}"}).encode()

        async def register(body: bytes = body) -> bytes:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(_request("POST", "/api/v1/agents", body, raw))
            data = await reader.read()
            writer.close()
            return data

        data = asyncio.run(register())
        agents.append(json.loads(data.split(b"\r\n\r\n", 1)[1])["id"])
    return {"key": raw, "project": project.pk, "agents": agents}


def queries_per_heartbeat(key: str, agent_id: int) -> int:
    """Through the whole WSGI application (the fast path included), in this process."""
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from config.wsgi import application

    def beat() -> str:
        request = RequestFactory().post(f"/api/v1/agents/{agent_id}/heartbeat", data=b"{}",
                                        content_type="application/json",
                                        HTTP_AUTHORIZATION=f"Bearer {key}")
        status: list[str] = []
        b"".join(application(request.environ, lambda s, h, e=None: status.append(s)))
        return status[0]

    beat()
    with CaptureQueriesContext(connection) as ctx:
        assert beat().startswith("200")
    return len(ctx.captured_queries)


def queries_per_span_event(key: str, agent_id: int) -> tuple[int, int]:
    """(queries for a span start, for its finish) through the whole WSGI application."""
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from config.wsgi import application

    prefix = uuid.uuid4().hex

    def post(i: int) -> str:
        request = RequestFactory().post("/api/v1/events", data=span_body(agent_id, prefix, i),
                                        content_type="application/json",
                                        HTTP_AUTHORIZATION=f"Bearer {key}")
        status: list[str] = []
        b"".join(application(request.environ, lambda s, h, e=None: status.append(s)))
        return status[0]

    post(0), post(1)  # warm: the key's cache entry, the agent
    counts = []
    for i in (2, 3):
        with CaptureQueriesContext(connection) as ctx:
            assert post(i).startswith("200")
        counts.append(len(ctx.captured_queries))
    return counts[0], counts[1]


def hot_update_share() -> float:
    """HOT updates of the agents table so far (pg_stat_user_tables; stats arrive within ~1 s)."""
    from django.db import connection

    time.sleep(1.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                       "WHERE relname = 'agents_agent'")
        updated, hot = cursor.fetchone()
    return 100.0 * hot / updated if updated else float("nan")


def one_run(args: argparse.Namespace, env: dict[str, str]) -> dict:
    proc, port = start_server(env, args.server, args.workers, args.threads)
    try:
        data = setup_data(64, port)
        common = {"warmup": args.warmup, "seconds": args.seconds}
        fast = {"args": {**data, "batch": 0}, "clients": 64, **common}
        if args.loadgen == "wrk":
            bare = load_wrk("bare", port, **fast)
            hb = load_wrk("heartbeat", port, **fast)
            hot = hot_update_share()
            hb_close = load_wrk("heartbeat", port, close=True, **fast)
            span = load_wrk("span", port, **fast)
            spans_api = load_wrk("spans_api", port, **fast)
        else:
            bare = load("bare", port, procs=args.client_procs, **fast)
            hb = hb_close = load("heartbeat", port, procs=args.client_procs, **fast)
            hot = hot_update_share()
            span = load("span", port, procs=args.client_procs, **fast)
            spans_api = load("spans_api", port, procs=args.client_procs, **fast)
        batch = load("batch", port, clients=args.batch_clients, procs=args.client_procs,
                     args={**data, "batch": args.batch}, **common)
        queries = queries_per_heartbeat(data["key"], data["agents"][0])
        span_queries = queries_per_span_event(data["key"], data["agents"][0])
    finally:
        stop_server(proc)
    return {
        "heartbeat_rps": hb["rate"], "heartbeat_p50_ms": hb["p50"], "heartbeat_p95_ms": hb["p95"],
        "heartbeat_p99_ms": hb["p99"], "heartbeat_statuses": hb["statuses"],
        "heartbeat_newconn_rps": hb_close["rate"], "heartbeat_newconn_p99_ms": hb_close["p99"],
        "events_per_s": batch["rate"] * args.batch, "batch_p50_ms": batch["p50"],
        "batch_p99_ms": batch["p99"], "batch_statuses": batch["statuses"],
        "bare_insert_rps": bare["rate"], "bare_p99_ms": bare["p99"],
        "bare_statuses": bare["statuses"],
        "ratio_to_bare": hb["rate"] / bare["rate"] if bare["rate"] else float("nan"),
        "queries_per_heartbeat": queries,
        "hot_update_pct": hot,
        "span_event_rps": span["rate"], "span_event_p50_ms": span["p50"],
        "span_event_p99_ms": span["p99"], "span_event_statuses": span["statuses"],
        "span_ratio_to_bare": span["rate"] / bare["rate"] if bare["rate"] else float("nan"),
        "spans_api_rps": spans_api["rate"], "spans_api_p50_ms": spans_api["p50"],
        "spans_api_p99_ms": spans_api["p99"], "spans_api_statuses": spans_api["statuses"],
        "spans_api_ratio_to_bare": spans_api["rate"] / bare["rate"] if bare["rate"]
        else float("nan"),
        "queries_per_span_start": span_queries[0], "queries_per_span_finish": span_queries[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    parser.add_argument("--workers", type=int, default=None,
                        help="web worker processes (granian 2, gunicorn 4)")
    parser.add_argument("--threads", type=int, default=4,
                        help="granian threads per worker (the Procfile's WEB_THREADS)")
    parser.add_argument("--loadgen", choices=["wrk", "python"], default=None,
                        help="wrk when installed, else python")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batch-clients", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 2 if args.server == "granian" else 4
    if args.loadgen is None:
        args.loadgen = "wrk" if have_wrk() else "python"

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        raise SystemExit("benchmarks/ingest.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    redis_url = os.environ.get("REDIS_URL", "")
    name = f"sb_bench_ingest_{os.getpid()}"
    db_url = scratch_url(base, name)
    admin_exec(base, f'CREATE DATABASE "{name}"')
    env = server_env(db_url, redis_url)
    os.environ.update({k: v for k, v in env.items() if k != "REDIS_URL"})
    if not redis_url:
        os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                       env=env, check=True)
        import django

        django.setup()
        serving = (f"granian {args.workers} workers x {args.threads} threads"
                   if args.server == "granian" else f"gunicorn {args.workers} sync workers")
        print(f"{serving}, load from {args.loadgen}, PostgreSQL {name}, "
              f"{'Redis ' + redis_url if redis_url else 'local-memory cache'}, "
              f"{args.seconds:g} s per phase after {args.warmup:g} s warm-up")
        runs = []
        for i in range(args.runs):
            result = one_run(args, env)
            runs.append(result)
            print(f"run {i + 1}: " + ", ".join(
                f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
        print("\nmedians over", len(runs), "runs")
        rows = [
            ("heartbeats/s (64 clients)", "heartbeat_rps", ">= 1000"),
            ("heartbeat p50 ms", "heartbeat_p50_ms", ""),
            ("heartbeat p95 ms", "heartbeat_p95_ms", ""),
            ("heartbeat p99 ms", "heartbeat_p99_ms", "<= 50"),
            ("heartbeats/s, new connection each", "heartbeat_newconn_rps", ""),
            ("  p99 ms, new connection each", "heartbeat_newconn_p99_ms", ""),
            (f"events/s in batches of {args.batch}", "events_per_s", ">= 20000"),
            ("batch p50 ms", "batch_p50_ms", ""),
            ("bare one-INSERT view req/s", "bare_insert_rps", ""),
            ("heartbeat rate / bare INSERT rate", "ratio_to_bare", ""),
            ("queries per heartbeat", "queries_per_heartbeat", "<= 3"),
            ("HOT updates of agents, %", "hot_update_pct", ">= 90"),
            ("single span events/s (64 clients)", "span_event_rps", ">= 5000"),
            ("single span event p50 ms", "span_event_p50_ms", ""),
            ("single span event p99 ms", "span_event_p99_ms", "<= 30"),
            ("span event rate / bare INSERT rate", "span_ratio_to_bare", ">= 1.5"),
            ("POST /spans start+finish/s (64 clients)", "spans_api_rps", ">= 5000"),
            ("POST /spans p99 ms", "spans_api_p99_ms", "<= 30"),
            ("POST /spans rate / bare INSERT rate", "spans_api_ratio_to_bare", ">= 1.5"),
            ("queries per span start", "queries_per_span_start", "<= 2"),
            ("queries per span finish", "queries_per_span_finish", "<= 2"),
        ]
        for label, key, target in rows:
            value = statistics.median(r[key] for r in runs)
            print(f"  {label:<36} {value:>10.2f}  {target}")
    finally:
        scratch_drop(base, name, keep=args.keep)


if __name__ == "__main__":
    main()
