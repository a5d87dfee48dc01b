"""Embedded mode under a fleet: `make run`'s one process (SQLite, in-process worker and beat)
with 100 simulated agents reporting for a while.

    .venv/bin/python benchmarks/embedded_soak.py [--agents 100] [--seconds 300]

What it does, on a scratch data folder (its own SQLite database, removed afterwards):
- migrates, creates a project and a write key, starts `manage.py serve` as `make run` does;
- reads the process's resident memory (RSS) idle;
- runs `manage.py simulate_agents` (registrations, heartbeats, status changes, tasks, hook
  events, errors, tool spans, as real agents send them) for the given time, sampling RSS every
  second;
- prints the simulator's summary (requests/s, p50/p99, failures by endpoint), the number of
  HTTP 4xx/5xx, the "database is locked" errors and tracebacks in the server log, and RSS idle
  and at its peak.

Target (issue 15): 100 agents for 5 minutes with zero "database is locked" errors and zero
4xx/5xx caused by locking.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB (from /proc)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the process group, SIGKILL if it is not gone within `timeout`."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=300)
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="sb-soak-"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({"SWITCHBOARD_DATA_DIR": str(data), "SECRET_KEY": "soak-" + "k" * 45,
                "DEBUG": "false", "SECURE_HTTPS": "false", "PYTHONUNBUFFERED": "1",
                # One key for the whole fleet: its rate limit (6,000/min by default) would
                # measure the limiter, not the database.
                "RATE_LIMIT_KEY": "1000000/min", "RATE_LIMIT_IP": "1000000/min"})
    server = None
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "project", "create", "soak", "--name", "Soak")
        key = manage(env, "apikey", "create", "--project", "soak", "--name", "soak",
                     "--scope", "write").strip().splitlines()[-1]
        port = free_port()
        log = data / "serve.log"
        server = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port)],
                                  cwd=ROOT, env=env, stdout=log.open("w"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while not ready(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        time.sleep(3)
        idle = rss_mib(server.pid)
        peak = [idle]
        sampled = threading.Event()

        def sample() -> None:
            while not sampled.wait(1.0):
                peak.append(rss_mib(server.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        sim = manage(env, "simulate_agents", "--project", "soak", "--agents", str(args.agents),
                     "--duration", str(args.seconds), "--url", f"http://127.0.0.1:{port}",
                     "--key", key, "--seed", "7")
        sampled.set()
        sampler.join()
        text = log.read_text()
        statuses = re.findall(r"\" (\d{3}) ", text)
        bad = sum(1 for s in statuses if s[0] in "45")
        print(f"Embedded soak: {args.agents} agents for {args.seconds:g} s (manage.py serve, "
              "SQLite, in-process worker and beat)")
        print(sim.strip())
        print(f"'database is locked' in the server log: {text.count('database is locked')}")
        print(f"tracebacks in the server log:           {text.count('Traceback')}")
        if statuses:
            print(f"4xx/5xx in the access log:             {bad} of {len(statuses)}")
        print(f"RSS of the serve process: idle {idle:.0f} MiB, peak {max(peak):.0f} MiB")
        lines = text.splitlines()
        for n, line in enumerate(lines):  # where each lock error came from
            if "database is locked" in line and line.startswith(("sqlite3.", "django.")):
                frames = [x.strip() for x in lines[max(0, n - 40):n]
                          if x.strip().startswith('File "') and "/apps/" in x]
                print("  locked at:", " <- ".join(reversed(frames[-3:])) or line)
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
