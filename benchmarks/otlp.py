"""OTLP logs intake against the batch events API, on the production web stack.

Issue 11's target: `POST /v1/logs` takes >= 5,000 log records/s on PostgreSQL with the
Procfile's web process (granian, WSGI) in batches of 100, with <= 3 queries per batch whatever
its size; and the ratio to `POST /api/v1/events` with 100 events per request, measured in the
same run.

Each run makes a scratch PostgreSQL database, starts granian as the Procfile does, registers
64 sessions, then loads each path for --seconds after --warmup from asyncio clients in
separate processes (one request per connection, as in benchmarks/ingest.py). The OTLP batches
are Claude Code's own log events in protobuf (api_request with tokens and cost, tool_result,
user_prompt, tool_decision, in the proportions of a real session), every record new (fresh
request and tool-call ids); the events batches are plain hook events of the same count.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
      .venv/bin/python benchmarks/otlp.py --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ingest  # noqa: E402  (benchmarks/ingest.py: server, database and load helpers)

HOST = ingest.HOST
PROTOBUF = "application/x-protobuf"


def request(path: str, body: bytes, key: str, content_type: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {HOST}", "Connection: close",
            f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
            f"Authorization: Bearer {key}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def otlp_batch(session: str, prefix: str, i: int, size: int) -> bytes:
    """`size` Claude Code log records of one session: per 4, an api_request, a tool_decision,
    a tool_result and a user_prompt or assistant_response."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key: str, value: object) -> KeyValue:
        if isinstance(value, bool):
            return KeyValue(key=key, value=AnyValue(bool_value=value))
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    message = ExportLogsServiceRequest()
    rl = message.resource_logs.add()
    rl.resource.attributes.extend([kv("service.name", "claude-code"),
                                   kv("service.version", "2.1.332"), kv("team", "bench")])
    sl = rl.scope_logs.add()
    sl.scope.name = "com.anthropic.claude_code.events"
    now = time.time_ns()
    common = [("session.id", session), ("user.id", "u" * 64), ("terminal.type", "vscode")]
    for n in range(size):
        call = f"{prefix}-{i}-{n // 4}"
        kind = n % 4
        if kind == 0:
            name, attrs = "api_request", [
                ("model", "claude-sonnet-4-5"), ("input_tokens", 1200), ("output_tokens", 80),
                ("cache_read_tokens", 15000), ("cache_creation_tokens", 900),
                ("cost_usd", 0.0139), ("duration_ms", 2100), ("request_id", f"req_{call}")]
        elif kind == 1:
            name, attrs = "tool_decision", [("decision", "accept"), ("source", "config"),
                                            ("tool_name", "Bash"), ("tool_use_id", f"t_{call}")]
        elif kind == 2:
            name, attrs = "tool_result", [("tool_name", "Bash"), ("tool_use_id", f"t_{call}"),
                                          ("success", "true"), ("duration_ms", "240")]
        else:
            name, attrs = "user_prompt", [("prompt_length", "42"), ("prompt", "<REDACTED>")]
        record = sl.log_records.add()
        record.time_unix_nano = record.observed_time_unix_nano = now + n
        record.body.string_value = f"claude_code.{name}"
        record.attributes.extend([kv(k, v) for k, v in common])
        record.attributes.extend([kv("event.name", name), kv("event.sequence", i * size + n)])
        record.attributes.extend([kv(k, v) for k, v in attrs])
    return message.SerializeToString()


def events_batch(agent: int, prefix: str, i: int, size: int) -> bytes:
    events = [{"type": "hook.post_tool_use", "agent": agent,
               "idempotency_key": f"{prefix}-{i}-{n}",
               "data": {"tool_name": "Bash", "tool_use_id": f"t_{prefix}_{i}_{n}",
                        "duration_ms": 240, "n": n}} for n in range(size)]
    return json.dumps({"events": events}).encode()


def client(kind: str, port: int, clients: int, warmup: float, seconds: float, args: dict,
           queue: mp.Queue) -> None:
    out: dict = {"latencies": [], "statuses": {}}

    def factory(c: int):
        prefix = uuid.uuid4().hex[:10]
        session = args["sessions"][c % len(args["sessions"])]
        agent = args["agents"][c % len(args["agents"])]
        if kind == "otlp":
            return lambda i: request("/v1/logs", otlp_batch(session, prefix, i, args["size"]),
                                     args["key"], PROTOBUF)
        return lambda i: request("/api/v1/events", events_batch(agent, prefix, i, args["size"]),
                                 args["key"], "application/json")

    async def main() -> None:
        t0 = time.perf_counter()
        await asyncio.gather(*(ingest._client_loop(port, factory(c), t0 + warmup,
                                                   t0 + warmup + seconds, out)
                               for c in range(clients)))

    asyncio.run(main())
    queue.put(out)


def load(kind: str, port: int, *, clients: int, procs: int, warmup: float, seconds: float,
         args: dict) -> dict:
    result = ingest.load(kind, port, clients=clients, procs=procs, warmup=warmup,
                         seconds=seconds, args=args, target=client)
    result["records"] = result["rate"] * args["size"]
    return result


def queries_per_batch(key: str, session: str, sizes: tuple[int, ...]) -> dict[int, int]:
    """Queries of one OTLP batch through the whole WSGI application, per batch size."""
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from config.wsgi import application

    def post(body: bytes) -> str:
        req = RequestFactory().post("/v1/logs", data=body, content_type=PROTOBUF,
                                    HTTP_AUTHORIZATION=f"Bearer {key}")
        status: list[str] = []
        b"".join(application(req.environ, lambda s, h, e=None: status.append(s)))
        return status[0]

    post(otlp_batch(session, "warm", 0, 4))
    counts = {}
    for size in sizes:
        with CaptureQueriesContext(connection) as ctx:
            assert post(otlp_batch(session, uuid.uuid4().hex[:8], 1, size)).startswith("200")
        # Statements, not the transaction's BEGIN/COMMIT/SAVEPOINT bookkeeping.
        counts[size] = len([q for q in ctx.captured_queries if not q["sql"].upper().startswith(
            ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))])
    return counts


def one_run(args: argparse.Namespace, env: dict[str, str]) -> dict:
    proc, port = ingest.start_server(env, "granian", args.workers, args.threads)
    try:
        data = ingest.setup_data(64, port)
        sessions = [f"bench-{i}" for i in range(64)]  # setup_data's external ids
        common = {"clients": args.clients, "procs": args.client_procs, "warmup": args.warmup,
                  "seconds": args.seconds}
        payload = {**data, "sessions": sessions, "size": args.size}
        otlp = load("otlp", port, args=payload, **common)
        events = load("events", port, args=payload, **common)
        queries = queries_per_batch(data["key"], sessions[0], (10, args.size, 1000))
    finally:
        ingest.stop_server(proc)
    return {"otlp_records_per_s": otlp["records"], "otlp_p50_ms": otlp["p50"],
            "otlp_p99_ms": otlp["p99"], "otlp_statuses": otlp["statuses"],
            "events_per_s": events["records"], "events_p50_ms": events["p50"],
            "events_p99_ms": events["p99"], "events_statuses": events["statuses"],
            "ratio": otlp["records"] / events["records"] if events["records"] else float("nan"),
            "queries": queries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--size", type=int, default=100, help="records per batch")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        raise SystemExit("benchmarks/otlp.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    redis_url = os.environ.get("REDIS_URL", "")
    name = f"sb_bench_otlp_{os.getpid()}"
    ingest.admin_exec(base, f'CREATE DATABASE "{name}"')
    env = ingest.server_env(ingest.scratch_url(base, name), redis_url)
    os.environ.update({k: v for k, v in env.items() if k != "REDIS_URL"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        print(f"granian {args.workers}x{args.threads}, PostgreSQL {name}, batches of "
              f"{args.size}, {args.clients} clients, {args.seconds:g} s per phase")
        runs = []
        for n in range(args.runs):
            result = one_run(args, env)
            runs.append(result)
            print(f"run {n + 1}: OTLP {result['otlp_records_per_s']:,.0f} records/s "
                  f"(p50 {result['otlp_p50_ms']:.0f} ms, p99 {result['otlp_p99_ms']:.0f} ms, "
                  f"{result['otlp_statuses']}); events API {result['events_per_s']:,.0f}/s "
                  f"(p99 {result['events_p99_ms']:.0f} ms); ratio {result['ratio']:.2f}; "
                  f"queries per batch by size {result['queries']}")
        med = {k: statistics.median(r[k] for r in runs) for k in
               ("otlp_records_per_s", "otlp_p99_ms", "events_per_s", "events_p99_ms", "ratio")}
        print(f"median of {len(runs)}: OTLP {med['otlp_records_per_s']:,.0f} records/s "
              f"(p99 {med['otlp_p99_ms']:.0f} ms), events API {med['events_per_s']:,.0f}/s "
              f"(p99 {med['events_p99_ms']:.0f} ms), ratio {med['ratio']:.2f}; target "
              f">= 5,000 records/s and <= 3 queries per batch")
    finally:
        from django.db import connections

        connections.close_all()
        ingest.admin_exec(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
