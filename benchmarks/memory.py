"""Resident memory of the production process set, idle and after a burst of load.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/15 \
        .venv/bin/python benchmarks/memory.py [--seconds 8]

Starts the Procfile's processes as it writes them (web: granian 2 workers x 2 threads; ws:
daphne; worker: Celery, 4 threads in one process; beat) on a scratch PostgreSQL database next to
DATABASE_URL (dropped afterwards), waits until they are up, and prints each one's RSS
(its own and its children's, from /proc) idle; then drives heartbeats and single span events
through web with wrk for --seconds each and prints RSS again.

Target (issue 15): the production set idles under 600 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from embedded_soak import free_port, ready, rss_mib  # noqa: E402
from ingest import admin_exec, have_wrk, load_wrk, scratch_url, server_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not base.startswith("postgres") or not redis_url:
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL")
    name = f"sb_bench_memory_{os.getpid()}"
    admin_exec(base, f'CREATE DATABASE "{name}"')
    env = server_env(scratch_url(base, name), redis_url)
    env["AGENTS_BENCHMARK_VIEWS"] = "false"
    procs: dict[str, subprocess.Popen] = {}
    logs = Path(env["SWITCHBOARD_DATA_DIR"])
    logs.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env=env, check=True)
        web, ws = free_port(), free_port()
        commands = {
            "web": ["granian", "--interface", "wsgi", "--workers", "2", "--blocking-threads",
                    "4", "--host", "127.0.0.1", "--port", str(web), "--no-ws",
                    "config.wsgi:application"],
            "ws": ["daphne", "config.asgi:application", "--bind", "127.0.0.1", "--port",
                   str(ws)],
            "worker": ["celery", "-A", "config", "worker", "-l", "warning", "--pool", "threads",
                       "--concurrency", "4"],
            "beat": ["celery", "-A", "config", "beat", "-l", "warning", "--schedule",
                     str(logs / f"beat-{uuid.uuid4().hex}")],
        }
        bin_dir = Path(sys.executable).parent
        for proc_name, command in commands.items():
            command = [str(bin_dir / command[0]), *command[1:]]
            procs[proc_name] = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=(logs / f"{proc_name}.log").open("w"),
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not ready(web):
            if time.monotonic() > deadline:
                raise SystemExit("web did not start")
            time.sleep(0.3)
        time.sleep(8)  # the worker's pool and beat's first tick
        idle = {n: rss_mib(p.pid) for n, p in procs.items()}
        print("RSS idle (MiB): " + ", ".join(f"{n} {v:.0f}" for n, v in idle.items())
              + f"; total {sum(idle.values()):.0f} (target < 600)")
        if not have_wrk():
            return
        key = _key(env)
        agents = []
        for i in range(16):
            request = urllib.request.Request(
                f"http://127.0.0.1:{web}/api/v1/agents", method="POST",
                data=json.dumps({"name": f"a{i}", "external_id": f"m-{i}"}).encode(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                agents.append(json.loads(answer.read())["id"])
        common = {"clients": 64, "warmup": 1, "seconds": args.seconds,
                  "args": {"key": key, "agents": agents}}
        beat = load_wrk("heartbeat", web, **common)
        span = load_wrk("span", web, **common)
        time.sleep(2)
        loaded = {n: rss_mib(p.pid) for n, p in procs.items()}
        print(f"after {beat['ok']} heartbeats and {span['ok']} span events: "
              + ", ".join(f"{n} {v:.0f}" for n, v in loaded.items())
              + f"; total {sum(loaded.values()):.0f} MiB")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        admin_exec(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _key(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "manage.py", "project", "create", "mem", "--name",
                           "Memory"], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    done = subprocess.run([sys.executable, "manage.py", "apikey", "create", "--project", "mem",
                           "--name", "mem", "--scope", "write"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    main()
