"""Ingestion throughput of `make run`'s one process (SQLite, in-process worker and beat).

    .venv/bin/python benchmarks/embedded_ingest.py [--runs 3] [--seconds 8] [--clients 16]

What it does: migrates one scratch data folder, then for each run and each server (granian's
embedded server, the default, and `--server daphne`, the former one; interleaved) copies it,
starts `manage.py serve` on it, registers 16 agents over the API, and drives with wrk at 16
keep-alive connections:
- heartbeats (`POST /api/v1/agents/<id>/heartbeat`);
- single span events as the Claude Code hook sends them (`POST /api/v1/events` with one
  span.start or span.finish, ~1 KB, each with an idempotency key);
printing requests/s, p50/p99 and non-2xx, and the process's RSS idle and after the load.

Target (issue 15): >= 1,000 single events/s with p99 <= 100 ms at 16 connections.
Needs `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from embedded_soak import free_port, manage, ready, rss_mib, stop  # noqa: E402
from ingest import have_wrk, load_wrk  # noqa: E402


def register(port: int, key: str, n: int) -> list[int]:
    ids = []
    for i in range(n):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/agents", method="POST",
            data=json.dumps({"name": f"agent {i}", "external_id": f"bench-{i}",
                             "kind": "claude-code"}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            ids.append(json.loads(answer.read())["id"])
    return ids


def one(server: str, template: Path, env: dict[str, str], key: str, args: argparse.Namespace
        ) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="sb-embedded-ingest-"))
    shutil.copytree(template, data, dirs_exist_ok=True)
    env = {**env, "SWITCHBOARD_DATA_DIR": str(data)}
    port = free_port()
    log = data / "serve.log"
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port),
                             "--server", server], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        agents = register(port, key, args.clients)
        time.sleep(2)
        idle = rss_mib(proc.pid)
        common = {"clients": args.clients, "warmup": 1.5, "seconds": args.seconds,
                  "args": {"key": key, "agents": agents}}
        beat = load_wrk("heartbeat", port, **common)
        span = load_wrk("span", port, **common)
        loaded = rss_mib(proc.pid)
        locked = log.read_text().count("database is locked")
    finally:
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)
    return {"heartbeat_rps": beat["rate"], "heartbeat_p50": beat["p50"],
            "heartbeat_p99": beat["p99"], "heartbeat_bad": beat["statuses"]["non-2xx"],
            "span_rps": span["rate"], "span_p50": span["p50"], "span_p99": span["p99"],
            "span_bad": span["statuses"]["non-2xx"], "rss_idle": idle, "rss_loaded": loaded,
            "locked": locked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--servers", default="granian,daphne")
    args = parser.parse_args()
    if not have_wrk():
        raise SystemExit("needs wrk: apt-get install wrk")
    template = Path(tempfile.mkdtemp(prefix="sb-embedded-template-"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({"SWITCHBOARD_DATA_DIR": str(template), "SECRET_KEY": "bench-" + "k" * 45,
                "DEBUG": "false", "SECURE_HTTPS": "false", "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "WARNING", "RATE_LIMIT_KEY": "100000000/min",
                "RATE_LIMIT_IP": "100000000/min"})
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "project", "create", "bench", "--name", "Bench")
        key = manage(env, "apikey", "create", "--project", "bench", "--name", "bench",
                     "--scope", "write").strip().splitlines()[-1]
        servers = args.servers.split(",")
        results: dict[str, list[dict[str, float]]] = {s: [] for s in servers}
        for run in range(args.runs):
            for server in servers:
                figures = one(server, template, env, key, args)
                results[server].append(figures)
                print(f"run {run + 1} {server}: " + ", ".join(
                    f"{k}={v:.1f}" for k, v in figures.items()), flush=True)
        print(f"\nmedians over {args.runs} runs, {args.clients} keep-alive connections")
        names = list(next(iter(results.values()))[0])
        print("  " + "figure".ljust(22) + "".join(s.rjust(12) for s in servers))
        for name in names:
            row = [statistics.median(r[name] for r in results[s]) for s in servers]
            print("  " + name.ljust(22) + "".join(f"{v:12.1f}" for v in row))
        print("  target: span_rps >= 1000 with span_p99 <= 100 ms (granian)")
    finally:
        shutil.rmtree(template, ignore_errors=True)


if __name__ == "__main__":
    main()
