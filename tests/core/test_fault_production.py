"""Fault tests on the production stack (issue 16): granian (web), a Celery worker and beat on
PostgreSQL and a Redis of their own, under load, while a part fails:

- the worker is killed with SIGKILL while it drains alert evaluations and applies webhooks;
- Redis is stopped for 20 seconds (its queue and counters are lost, as with a crash);
- the web process is restarted.

Each asserts what a team relies on: every write answered 2xx is stored exactly once, no request
answers 500 (503 with Retry-After is allowed while Redis is down), every stored webhook delivery
is applied in the end, each agent's alert opens once, and silent agents go offline within their
threshold and one sweep.

Self-contained: its own PostgreSQL database (on the server DATABASE_URL names, or
127.0.0.1:5432) and its own redis-server on a free port, so it runs the same in both CI passes
and never stops a Redis anything else uses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.linear.fake_linear import FakeLinear
from tests.support import free_port, missing, port_open, wait_for

ROOT = Path(__file__).resolve().parents[2]
AGENTS = 6
OFFLINE_AFTER = 4  # seconds: this project's threshold
SWEEP = 1  # seconds between lifecycle sweeps
WEBHOOK_SECRET = "whsec-fault-test-0123456789"
pytestmark = pytest.mark.live


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/postgres"


def _psql(url: str, sql: str) -> str:
    done = subprocess.run(["psql", url, "-qAtc", sql], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    db_url: str
    redis_port: int
    web_port: int
    key: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    # --- processes ---------------------------------------------------------------------------
    def start(self, name: str) -> None:
        commands = {
            "redis": ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no", "--dir", str(self.root)],
            "web": [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", "1",
                    "--blocking-threads", "4", "--host", "127.0.0.1", "--port",
                    str(self.web_port), "--no-ws", "config.wsgi:application"],
            "worker": [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning",
                       "--pool", "threads", "--concurrency", "4"],  # as the Procfile runs it
            "beat": [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "warning",
                     "--schedule", str(self.root / "beat-schedule")],
        }
        log = (self.root / f"{name}.log").open("a")
        self.procs[name] = subprocess.Popen(commands[name], cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        if name == "redis":
            wait_for(lambda: port_open("127.0.0.1", self.redis_port), timeout=20,
                     message="redis-server to listen")
        if name == "web":
            wait_for(lambda: self.ready() or self.procs["web"].poll() is not None, timeout=60,
                     interval=0.2, message="web to answer /readyz")
            assert self.procs["web"].poll() is None, self.logs()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, sig)  # the whole group: a prefork worker's children too
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.read_text()[-3000:]}"
                         for p in sorted(self.root.glob("*.log")))

    # --- HTTP --------------------------------------------------------------------------------
    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/readyz",
                                        timeout=5) as r:
                return r.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    def post(self, path: str, body: dict | bytes, headers: dict[str, str] | None = None
             ) -> tuple[int, dict, dict[str, str]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}{path}", data=data, method="POST",
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json",
                     **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=15) as r:
                return r.status, json.loads(r.read() or b"{}"), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, {}, dict(exc.headers)

    # --- the database ------------------------------------------------------------------------
    def sql(self, query: str) -> str:
        return _psql(self.db_url, query)

    def manage(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server = _server_url()
    if not port_open("127.0.0.1", 5432) and "127.0.0.1:5432" in server:
        missing("PostgreSQL is not reachable at 127.0.0.1:5432")
    if shutil.which("redis-server") is None or shutil.which("psql") is None:
        missing("redis-server and psql are needed for the production-stack fault tests")
    name = f"sb_fault_{os.getpid()}"
    _psql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _psql(server, f"CREATE DATABASE {name}")
    db_url = server.rsplit("/", 1)[0] + f"/{name}"
    root = tmp_path_factory.mktemp("fault-production")
    redis_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env.update({
        "DATABASE_URL": db_url, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SWITCHBOARD_DATA_DIR": str(root), "SECRET_KEY": "fault-production-" + "k" * 40,
        "DEBUG": "false", "SECURE_HTTPS": "false", "PYTHONUNBUFFERED": "1",
        "AGENTS_SWEEP_SECONDS": str(SWEEP), "ALERTS_SWEEP_SECONDS": "5",
        "LINEAR_SWEEP_SECONDS": "5", "BEAT_TICK_SECONDS": "1", "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_KEY": "1000000/min", "RATE_LIMIT_IP": "1000000/min",
        "LINEAR_WEBHOOK_SECRET": WEBHOOK_SECRET, "CELERY_QUEUE": f"fault-{web_port}",
    })
    s = Stack(root=root, env=env, db_url=db_url, redis_port=redis_port, web_port=web_port)
    try:
        s.start("redis")
        s.manage("migrate", "--noinput", "-v", "0")
        s.manage("project", "create", "fault", "--name", "Fault")
        s.key = s.manage("apikey", "create", "--project", "fault", "--name", "fault",
                         "--scope", "write").strip().splitlines()[-1]
        project_id = s.sql("SELECT id FROM projects_project WHERE slug = 'fault'")
        s.sql("INSERT INTO agents_lifecyclepolicy (project_id, idle_after_seconds, "
              "offline_after_seconds, error_window_seconds, block_after_errors, "
              f"sleep_after_errors, updated_at) VALUES ({project_id}, 300, {OFFLINE_AFTER}, "
              "600, 3, 5, now())")
        s.sql("INSERT INTO alerts_alertrule (version, name, enabled, event_kind, agent_kind, "
              "threshold, window_minutes, severity, channels, action_interval_minutes, "
              "respect_sleep_windows, respect_quiet_hours, created_at, updated_at) VALUES "
              "(1, 'Fault seen', true, 'hook.fault', '', 1, 60, 'warning', '[]', 60, false, "
              "false, now(), now())")
        for name in ("web", "worker", "beat"):
            s.start(name)
        yield s
    finally:
        s.stop_all()
        _psql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class Load:
    """Clients that report as agents do: events (with idempotency keys) and heartbeats, and
    Linear delivering signed webhooks. Records what was answered 2xx, and every status."""

    stack: Stack
    sessions: list[str]
    agent_ids: list[int]
    acked: list[str] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    retry_after_missing: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def _count(self, status: int, headers: dict[str, str]) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status == 503 and "Retry-After" not in headers:
                self.retry_after_missing += 1

    def _writer(self, n: int) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            if i % 4 == 0:
                try:
                    status, _, headers = self.stack.post(
                        f"/api/v1/agents/{self.agent_ids[n % AGENTS]}/heartbeat", {})
                    self._count(status, headers)
                except OSError:
                    time.sleep(0.05)
                continue
            key = f"{self.tag}-w{n}-{i}"
            try:
                status, body, headers = self.stack.post("/api/v1/events", {"events": [{
                    "type": "hook.fault", "agent_external_id": self.sessions[n % AGENTS],
                    "idempotency_key": key, "data": {"i": i}}]})
            except OSError:  # the web process is away: a real client spools and retries
                time.sleep(0.05)
                continue
            self._count(status, headers)
            if status == 200 and body["results"][0]["status"] == "created":
                with self.lock:
                    self.acked.append(key)

    def _linear(self) -> None:
        fake = FakeLinear().seed(issues=400, teams=1)
        for issue in fake.issues:
            if self.stop.is_set():
                return
            body, headers = FakeLinear.signed(
                fake.envelope("Issue", "create", fake.issue_payload(issue)), WEBHOOK_SECRET)
            try:
                status, _, answer_headers = self.stack.post("/api/v1/linear/webhook", body, {
                    "Linear-Signature": headers["Linear-Signature"],
                    "Linear-Delivery": headers["Linear-Delivery"]})
            except OSError:
                time.sleep(0.05)
                continue
            self._count(status, answer_headers)
            if status == 200:
                with self.lock:
                    self.deliveries.append(headers["Linear-Delivery"])
            time.sleep(0.01)

    def __post_init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]

    def begin(self, writers: int = 6, linear: bool = True) -> None:
        self.threads = [threading.Thread(target=self._writer, args=(n,)) for n in range(writers)]
        if linear:
            self.threads.append(threading.Thread(target=self._linear))
        for t in self.threads:
            t.start()

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def _agents(stack: Stack) -> tuple[list[str], list[int]]:
    sessions = [f"sess-{uuid.uuid4().hex[:8]}" for _ in range(AGENTS)]
    for s in sessions:
        status, _, _ = stack.post("/api/v1/events", {"events": [
            {"type": "agent.register", "data": {"name": s, "external_id": s, "kind": "custom"}},
            {"type": "agent.status", "agent_external_id": s, "data": {"status": "working"}}]})
        assert status == 200, stack.logs()
    quoted = ",".join(f"'{s}'" for s in sessions)
    ids = [int(x) for x in stack.sql(
        f"SELECT id FROM agents_agent WHERE external_id IN ({quoted}) ORDER BY id").split()]
    assert len(ids) == AGENTS
    return sessions, ids


def _assert_outcome(stack: Stack, load: Load) -> None:
    """Every acknowledged write stored once; every delivery applied; alerts opened once;
    silent agents offline within the threshold and one sweep."""
    assert load.statuses[500] == 0, (load.statuses, stack.logs())
    assert load.retry_after_missing == 0, load.statuses
    assert len(load.acked) > 50, f"too little load: {load.statuses}"
    stored = Counter(stack.sql(
        f"SELECT idempotency_key FROM agents_agentevent WHERE idempotency_key LIKE '{load.tag}-%'"
    ).split())
    lost = [k for k in load.acked if stored[k] == 0]
    doubled = [k for k, n in stored.items() if n > 1]
    assert not lost and not doubled, (len(lost), doubled[:5])

    if load.deliveries:
        quoted = ",".join(f"'{d}'" for d in load.deliveries)

        def applied() -> bool:
            rows = stack.sql(f"SELECT status FROM linear_webhookdelivery "
                             f"WHERE delivery_id IN ({quoted})").split()
            return len(rows) == len(load.deliveries) and set(rows) == {"processed"}

        try:
            wait_for(applied, timeout=40, interval=0.5, message="every stored delivery applied")
        except AssertionError as exc:
            states = stack.sql("SELECT status, count(*) FROM linear_webhookdelivery "
                               f"WHERE delivery_id IN ({quoted}) GROUP BY status")
            raise AssertionError(f"{exc}\ndeliveries by status: {states}\n{stack.logs()}") from None

    ids = ",".join(str(i) for i in load.agent_ids)
    wait_for(lambda: stack.sql("SELECT count(*) FROM alerts_pendingevaluation") == "0",
             timeout=40, interval=0.5, message="every alert evaluation drained")
    per_agent = Counter(stack.sql(
        f"SELECT agent_id FROM alerts_alert WHERE event_kind = 'hook.fault' "
        f"AND agent_id IN ({ids}) AND state <> 'resolved'").split())
    assert sorted(per_agent.values()) == [1] * AGENTS, per_agent

    started = time.monotonic()
    wait_for(lambda: stack.sql(f"SELECT count(*) FROM agents_agent WHERE id IN ({ids}) "
                               f"AND status <> 'offline'") == "0",
             timeout=OFFLINE_AFTER + SWEEP + 10, interval=0.2, message="silent agents offline")
    assert time.monotonic() - started <= OFFLINE_AFTER + SWEEP + 3


def _fault_under_load(stack: Stack, name: str, *, before: float, down: float, after: float,
                      sig: int = signal.SIGKILL) -> None:
    """Load for `before` s, stop `name` with `sig`, keep loading `down` s, start it again,
    load `after` s more, then check the outcome."""
    sessions, ids = _agents(stack)
    load = Load(stack, sessions, ids)
    load.begin()
    time.sleep(before)
    stack.kill(name, sig)
    time.sleep(down)
    stack.start(name)
    time.sleep(after)
    load.end()
    _assert_outcome(stack, load)


def test_worker_killed_mid_drain_and_mid_webhook(stack: Stack) -> None:
    # SIGKILL: the evaluations and webhooks it had claimed roll back with its transactions.
    _fault_under_load(stack, "worker", before=3, down=3, after=2)


def test_redis_stopped_for_20_seconds_under_load(stack: Stack) -> None:
    # Its queue, counters and channel groups are gone, as after a crash without persistence.
    _fault_under_load(stack, "redis", before=2, down=20, after=3)


def test_web_restarted_under_load(stack: Stack) -> None:
    # A deploy: graceful stop, then the new process; clients retry what they were unsure of.
    _fault_under_load(stack, "web", before=2, down=0, after=2, sig=signal.SIGTERM)
