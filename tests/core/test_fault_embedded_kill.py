"""Fault test: `make run`'s process (embedded mode: SQLite, in-process worker and beat) is
killed with SIGKILL under load and started again. Every write that was acknowledged is stored
exactly once, and agents that went silent with the crash go offline within the threshold and
one sweep. Self-contained: its own data folder and SQLite database, on either CI pass."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
AGENTS = 6
OFFLINE_AFTER = 4  # seconds, this project's threshold
pytestmark = pytest.mark.live


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({"SWITCHBOARD_DATA_DIR": str(data), "SECRET_KEY": "fault-test-" + "k" * 40,
                "DEBUG": "false", "SECURE_HTTPS": "false", "AGENTS_SWEEP_SECONDS": "1",
                "BEAT_TICK_SECONDS": "1", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING",
                "RATE_LIMIT_KEY": "1000000/min", "RATE_LIMIT_IP": "1000000/min"})
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT,
                            start_new_session=True)

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                return r.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    wait_for(lambda: ready() or proc.poll() is not None, timeout=90, interval=0.2,
             message="serve to be ready")
    assert proc.poll() is None, log.read_text()[-3000:]
    return proc


def _post(port: int, key: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_a_killed_embedded_server_loses_no_acknowledged_write(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "project", "create", "fault", "--name", "Fault")
    key = _manage(env, "apikey", "create", "--project", "fault", "--name", "fault test",
                  "--scope", "write").strip().splitlines()[-1]
    db = sqlite3.connect(tmp_path / "switchboard.sqlite3", timeout=30)
    project_id = db.execute("SELECT id FROM projects_project WHERE slug = 'fault'").fetchone()[0]
    db.execute("INSERT INTO agents_lifecyclepolicy (project_id, idle_after_seconds, "
               "offline_after_seconds, error_window_seconds, block_after_errors, "
               "sleep_after_errors, updated_at) VALUES (?, 300, ?, 600, 3, 5, datetime('now'))",
               (project_id, OFFLINE_AFTER))
    db.commit()

    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve(env, port, log)
    sessions = [f"sess-{uuid.uuid4().hex[:8]}" for _ in range(AGENTS)]
    for s in sessions:
        assert _post(port, key, "/events", {"events": [
            {"type": "agent.register", "data": {"name": s, "external_id": s, "kind": "custom"}},
            {"type": "agent.status", "agent_external_id": s, "data": {"status": "working"}},
        ]})[0] == 200
    agent_ids = [r[0] for r in db.execute(
        "SELECT id FROM agents_agent WHERE project_id = ? ORDER BY id", (project_id,))]
    acknowledged: list[str] = []
    beats: list[int] = []
    sent: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            k = f"w{n}-{i}"
            i += 1
            if i % 4 == 0:  # plain heartbeats too: their own write path (one raw UPDATE)
                try:
                    if _post(port, key, f"/agents/{agent_ids[n % AGENTS]}/heartbeat", {})[0] \
                            == 200:
                        with lock:
                            beats.append(n)
                except OSError:
                    pass
                continue
            with lock:
                sent.append(k)
            try:
                status, body = _post(port, key, "/events", {"events": [{
                    "type": "hook.note", "agent_external_id": sessions[n % AGENTS],
                    "idempotency_key": k, "data": {"n": i}}]})
            except OSError:
                continue
            if status == 200 and body["results"][0]["status"] == "created":
                with lock:
                    acknowledged.append(k)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-load: no shutdown, no flush
    proc.wait(timeout=10)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    assert len(acknowledged) > 50, f"too little load before the kill: {len(acknowledged)}"
    assert len(beats) > 10, "the heartbeat path was not exercised"

    proc = _serve(env, port, log)
    try:
        # Every key again (clients retry what they are unsure of): stored ones are duplicates.
        with lock:
            retry = list(sent)
        for start in range(0, len(retry), 500):
            chunk = retry[start:start + 500]
            status, body = _post(port, key, "/events", {"events": [
                {"type": "hook.note", "agent_external_id": sessions[0], "idempotency_key": k,
                 "data": {}} for k in chunk]})
            assert status == 200
        rows = dict(db.execute("SELECT idempotency_key, COUNT(*) FROM agents_agentevent "
                               "WHERE idempotency_key LIKE 'w%' GROUP BY idempotency_key"))
        assert not [k for k in acknowledged if k not in rows], "an acknowledged write was lost"
        assert all(n == 1 for n in rows.values()), "a write was stored twice"
        assert set(rows) == set(retry)

        # The last word of every agent is a plain heartbeat (the path that once stored its time
        # as text the offline sweep's conditional update never matched); then silence: every
        # agent goes offline within the threshold + a sweep.
        for agent_id in agent_ids:
            assert _post(port, key, f"/agents/{agent_id}/heartbeat", {})[0] == 200
        def offline() -> bool:
            statuses = [r[0] for r in db.execute(
                "SELECT status FROM agents_agent WHERE project_id = ?", (project_id,))]
            return len(statuses) == AGENTS and set(statuses) == {"offline"}

        wait_for(offline, timeout=OFFLINE_AFTER + 15, interval=0.5,
                 message="the silent agents to go offline")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        db.close()
