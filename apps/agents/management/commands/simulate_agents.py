"""`manage.py simulate_agents --project <slug> --agents 50 --duration 60` drives realistic agent
traffic through the real HTTP API (never the ORM): registration with sub-agents, heartbeats that
pick up and acknowledge commands, tasks assigned and completed or failed, tool spans with token
counts (both through POST /spans and through POST /events batches), errors and blocks. It is
for demos and load; it stops after --duration seconds and prints a summary."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

KINDS = [("claude-code", "claude-sonnet-4-5"), ("claude-code", "claude-opus-4-1"),
         ("opencode", "gpt-5"), ("codex", "gpt-5-codex"), ("cursor", "claude-sonnet-4-5"),
         ("custom", "qwen3-coder")]
NAMES = ["atlas", "birch", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "iris",
         "juniper", "kestrel", "lumen", "maple", "nimbus", "onyx", "pike", "quartz", "rowan",
         "sable", "tundra"]
TASKS = ["Fix flaky checkout test", "Add rate limiting to the public API",
         "Upgrade Django to 5.2", "Write migration for invoice totals",
         "Investigate memory leak in worker", "Refactor auth middleware",
         "Add pagination to the audit log", "Port billing cron to Celery beat",
         "Document the webhook retry policy", "Reduce p99 of /search"]
TOOLS = [("Read", 40, 8), ("Edit", 150, 20), ("Bash", 2500, 1200), ("Grep", 120, 30),
         ("Write", 90, 15), ("WebFetch", 900, 300), ("Task", 12000, 4000)]
ERRORS = ["Tool call failed: ENOENT: no such file or directory", "Rate limited by model provider",
          "pytest exited with status 1", "Context window exceeded; compacting"]
BLOCKS = ["waiting for input: Claude needs your permission to use Bash",
          "waiting for review of the migration plan", "waiting for input: which branch?"]


class Api:
    """One keep-alive HTTP connection per thread; JSON in and out."""

    def __init__(self, base: str, key: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CommandError(f"--url must be http(s)://host[:port], not '{base}'.")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/") + "/api/v1"
        self.key = key
        self.timeout = timeout
        self.local = threading.local()
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            cls = (http.client.HTTPSConnection if self.scheme == "https"
                   else http.client.HTTPConnection)
            conn = cls(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def call(self, method: str, path: str, body: Any = None, label: str = "") -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json",
                   "User-Agent": "switchboard-simulate-agents/1"}
        label = label or f"{method} {path}"
        for attempt in (1, 2):  # one retry on a connection the server closed meanwhile
            started = time.perf_counter()
            try:
                conn = self._conn()
                conn.request(method, self.prefix + path, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                status = response.status
                self.local.location = response.getheader("Location") or ""
                break
            except (OSError, http.client.HTTPException) as exc:
                self.local.conn = None
                if attempt == 2:
                    with self.lock:
                        self.calls[label] += 1
                        self.failures[f"{label}: {type(exc).__name__}"] += 1
                    return 0, None
        elapsed = time.perf_counter() - started
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        with self.lock:
            self.calls[label] += 1
            self.statuses[status] += 1
            self.latencies.append(elapsed)
            if status >= 400:
                error = data.get("error") if isinstance(data, dict) else ""
                self.failures[f"{label} -> {status} {error}"[:160]] += 1
            elif status >= 300:
                where = getattr(self.local, "location", "")
                self.failures[f"{label} -> {status} redirected to {where}"[:160]] += 1
        return status, data


@dataclass
class SimAgent:
    name: str
    kind: str
    model: str
    external_id: str
    parent_id: int | None = None
    id: int | None = None
    task_id: int | None = None
    task_title: str = ""
    spans_left: int = 0
    turn: int = 0
    blocked_ticks: int = 0
    sleeping: bool = False
    stopped: bool = False
    next_at: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)


class Simulation:
    def __init__(self, api: Api, agents: int, seed: int | None, tick: float) -> None:
        self.api = api
        self.rng = random.Random(seed)
        self.tick = tick
        self.rng_lock = threading.Lock()
        self.agents: list[SimAgent] = []
        run = uuid.uuid4().hex[:6]
        for index in range(agents):
            kind, model = KINDS[index % len(KINDS)]
            name = f"{NAMES[index % len(NAMES)]}-{index + 1}"
            self.agents.append(SimAgent(name=name, kind=kind, model=model,
                                        external_id=f"sim-{run}-{index + 1}"))
        self.totals: Counter[str] = Counter()
        self.totals_lock = threading.Lock()

    def chance(self, p: float) -> bool:
        with self.rng_lock:
            return self.rng.random() < p

    def pick(self, seq: list[Any]) -> Any:
        with self.rng_lock:
            return self.rng.choice(seq)

    def uniform(self, a: float, b: float) -> float:
        with self.rng_lock:
            return self.rng.uniform(a, b)

    def count(self, what: str, n: int = 1) -> None:
        with self.totals_lock:
            self.totals[what] += n

    # lifecycle -------------------------------------------------------------------------------
    def register(self, agent: SimAgent, parent: SimAgent | None = None) -> bool:
        body: dict[str, Any] = {"name": agent.name, "kind": agent.kind, "model": agent.model,
                                "external_id": agent.external_id,
                                "metadata": {"simulated": True, "host": "sim-runner"}}
        if parent is not None and parent.id is not None:
            body["parent"] = parent.id
        status, data = self.api.call("POST", "/agents", body, "POST /agents")
        if status in (200, 201) and isinstance(data, dict) and isinstance(data.get("id"), int):
            agent.id = data["id"]
            self.count("agents registered")
            return True
        return False

    def step(self, agent: SimAgent) -> None:
        """One tick of one agent: a heartbeat, then what a coding agent would do next."""
        path = f"/agents/{agent.id}"
        status_word = "idle" if agent.task_id is None else "working"
        if agent.blocked_ticks:
            status_word = "blocked"
        body: dict[str, Any] = {"message": f"{status_word}: {agent.task_title}".strip(": ")}
        if not agent.blocked_ticks and not agent.sleeping:
            body["status"] = status_word
        if agent.task_id is not None:
            body["progress"] = {"spans_left": agent.spans_left, "turn": agent.turn}
        status, data = self.api.call("POST", f"{path}/heartbeat", body,
                                     "POST /agents/{id}/heartbeat")
        self.count("heartbeats")
        if status == 200 and isinstance(data, dict):
            for command in data.get("commands") or []:
                self.obey(agent, command)
        if agent.stopped or agent.sleeping:
            return
        if agent.blocked_ticks:
            agent.blocked_ticks -= 1
            if agent.blocked_ticks == 0:  # a human answered: carry on
                self.api.call("POST", f"{path}/unblock", {}, "POST /agents/{id}/unblock")
                self.count("unblocks")
            return
        if agent.task_id is None:
            # A fresh agent starts on a task at once; later ones pause between tasks.
            if agent.turn and not self.chance(0.6):
                return
            self.assign(agent)
            if agent.task_id is None:
                return
        if self.chance(0.04):
            self.api.call("POST", f"{path}/error", {"message": self.pick(ERRORS)},
                          "POST /agents/{id}/error")
            self.count("errors")
            return
        if self.chance(0.03):
            self.api.call("POST", f"{path}/block", {"reason": self.pick(BLOCKS)},
                          "POST /agents/{id}/block")
            agent.blocked_ticks = 2 + int(self.uniform(0, 3))
            self.count("blocks")
            return
        self.work(agent)

    def obey(self, agent: SimAgent, command: dict[str, Any]) -> None:
        action = command.get("action")
        if action == "sleep":
            agent.sleeping = True
        elif action in ("wake", "restart"):
            agent.sleeping = False
            agent.stopped = False
        elif action == "stop":
            agent.stopped = True
        elif action == "unblock":
            agent.blocked_ticks = 0
        self.api.call("POST", f"/agents/{agent.id}/commands/{command.get('id')}/ack",
                      {"result": {"message": f"{action} done"}},
                      "POST /agents/{id}/commands/{id}/ack")
        self.count("commands acked")

    def assign(self, agent: SimAgent) -> None:
        title = self.pick(TASKS)
        status, data = self.api.call("POST", f"/agents/{agent.id}/assign", {
            "title": title, "description": "Simulated task", "priority": self.pick([0, 1, 2, 3, 4]),
        }, "POST /agents/{id}/assign")
        if status in (200, 201) and isinstance(data, dict):
            task = data.get("task") if isinstance(data.get("task"), dict) else data
            agent.task_id = task.get("id") if isinstance(task.get("id"), int) else None
            agent.task_title = title
            agent.spans_left = 2 + int(self.uniform(0, 6))
            self.count("tasks assigned")

    def span_fields(self, agent: SimAgent) -> dict[str, Any]:
        tool, mean, spread = self.pick(TOOLS)
        latency = max(5, int(self.uniform(mean - spread, mean + spread)))
        failed = self.chance(0.05)
        return {
            "span_id": f"toolu_{uuid.uuid4().hex[:20]}", "turn": agent.turn, "tool_name": tool,
            "input": json.dumps({"command": f"{tool.lower()} step {agent.turn}"}),
            "output": "error: exit status 1" if failed else "ok",
            "outcome": "error" if failed else "ok", "latency_ms": latency,
            "tokens_input": int(self.uniform(200, 4000)),
            "tokens_output": int(self.uniform(50, 1200)),
            "tokens_cache_read": int(self.uniform(0, 60000)),
            "tokens_cache_write": int(self.uniform(0, 3000)),
            "tokens_reasoning": int(self.uniform(0, 800)) if agent.kind != "cursor" else 0,
            **({"error": "exit status 1"} if failed else {}),
        }

    def work(self, agent: SimAgent) -> None:
        agent.turn += 1
        span = self.span_fields(agent)
        if agent.task_id is not None:
            span["task"] = agent.task_id
        # Alternate, so every run exercises both ways of reporting: odd turns as a hook client
        # would (one batch with usage), even turns through the trace endpoint.
        if agent.turn % 2 == 0:  # the trace endpoint: start, then finish
            start = {k: span[k] for k in ("span_id", "turn", "tool_name", "input")}
            self.api.call("POST", "/spans", {"agent": agent.id, "phase": "start", **start},
                          "POST /spans")
            self.api.call("POST", "/spans", {"agent": agent.id, "phase": "finish", **span},
                          "POST /spans")
        else:  # the hook-client way: one batch with idempotency keys
            def event(type_: str, data: dict[str, Any]) -> dict[str, Any]:
                return {"type": type_, "agent": agent.id, "data": data,
                        "idempotency_key": f"sim-{uuid.uuid4().hex}"}
            usage = {k: span[k] for k in span if k.startswith("tokens_")}
            self.api.call("POST", "/events", {"events": [
                event("span.start", {"phase": "start", **span}),
                event("span.finish", {"phase": "finish", **span}),
                # Keyed like the span's own usage row, so the two merge, never add up.
                event("usage", {**usage, "model": agent.model, "turn": agent.turn,
                                "key": f"span:{span['span_id']}"}),
                event("hook.tool_used", {"tool": span["tool_name"]}),
            ]}, "POST /events")
            self.count("events sent", 4)
        self.count("spans")
        agent.spans_left -= 1
        if agent.spans_left <= 0:
            self.finish_task(agent)

    def finish_task(self, agent: SimAgent) -> None:
        if self.chance(0.85) or agent.task_id is None:
            body: dict[str, Any] = {"result": f"Done: {agent.task_title}. Tests pass."}
            if agent.task_id is not None:
                body["task"] = agent.task_id
            self.api.call("POST", f"/agents/{agent.id}/complete", body,
                          "POST /agents/{id}/complete")
            self.count("tasks completed")
        else:
            self.api.call("PATCH", f"/agents/{agent.id}/tasks/{agent.task_id}",
                          {"status": "failed", "error": "Could not reproduce the bug"},
                          "PATCH /agents/{id}/tasks/{id}")
            self.count("tasks failed")
        agent.task_id = None
        agent.task_title = ""

    # the run ---------------------------------------------------------------------------------
    def run(self, duration: float, workers: int) -> float:
        started = time.monotonic()
        deadline = started + duration
        # Each worker registers its own agents, then drives them. Every fifth agent is a
        # sub-agent of the one before it: the two go to the same worker, parent first.
        chunks: list[list[int]] = []
        for index in range(len(self.agents)):
            if index % 5 == 4:
                chunks[-1].append(index)
            else:
                chunks.append([index])
        count = max(1, min(workers, len(chunks)))
        groups: list[list[int]] = [[] for _ in range(count)]
        for number, chunk in enumerate(chunks):
            groups[number % count].extend(chunk)
        threads = [threading.Thread(target=self._worker, args=(group, deadline), daemon=True)
                   for group in groups]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + 15)
        return time.monotonic() - started

    def _worker(self, indexes: list[int], deadline: float) -> None:
        agents: list[SimAgent] = []
        for index in indexes:
            if time.monotonic() >= deadline:
                return
            agent = self.agents[index]
            parent = self.agents[index - 1] if index % 5 == 4 else None
            if self.register(agent, parent):
                agent.next_at = time.monotonic() + self.uniform(0, self.tick)
                agents.append(agent)
        while agents:
            now = time.monotonic()
            if now >= deadline:
                return
            agent = min(agents, key=lambda a: a.next_at)
            if agent.next_at > now:
                time.sleep(min(agent.next_at, deadline) - now)
                continue
            self.step(agent)
            agent.next_at = time.monotonic() + self.uniform(0.5 * self.tick, 1.5 * self.tick)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


class Command(BaseCommand):
    help = "Drive simulated agent traffic through the real HTTP API, for demos and load."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--agents", type=int, default=50, help="How many agents (default 50).")
        parser.add_argument("--duration", type=float, default=60,
                            help="Seconds to run (default 60).")
        parser.add_argument("--url", default="http://127.0.0.1:8000",
                            help="Switchboard's base URL (default http://127.0.0.1:8000).")
        parser.add_argument("--key", default="",
                            help="A write key of the project; without it one is created.")
        parser.add_argument("--tick", type=float, default=2.0,
                            help="Mean seconds between one agent's actions (default 2).")
        parser.add_argument("--workers", type=int, default=16,
                            help="Concurrent HTTP connections (default 16).")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for replays.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["agents"] < 1 or options["agents"] > 5000:
            raise CommandError("--agents must be between 1 and 5000.")
        if options["duration"] <= 0 or options["duration"] > 24 * 3600:
            raise CommandError("--duration must be between 0 and 86400 seconds.")
        if options["tick"] <= 0 or options["workers"] < 1:
            raise CommandError("--tick must be positive and --workers at least 1.")
        key = options["key"].strip() or self._make_key(options["project"])
        api = Api(options["url"], key)
        status, _ = api.call("GET", "/agents?limit=1", label="GET /agents")
        if status == 0:
            raise CommandError(f"cannot reach Switchboard at {options['url']}; is it running?")
        if status in (401, 403):
            raise CommandError(f"the server refused the key (HTTP {status}).")
        if 300 <= status < 400:
            where = getattr(api.local, "location", "") or "elsewhere"
            hint = (f" It serves HTTPS only: pass --url {where.split('/api/')[0]}"
                    if where.startswith("https://") else "")
            raise CommandError(f"the server answered HTTP {status}, redirecting to {where}; "
                               f"no request would succeed.{hint}")
        if not 200 <= status < 300:
            raise CommandError(f"the server answered HTTP {status} to GET /api/v1/agents; "
                               "nothing was simulated.")
        sim = Simulation(api, options["agents"], options["seed"], options["tick"])
        self.stdout.write(f"Simulating {options['agents']} agents for {options['duration']:g} s "
                          f"against {options['url']} ...")
        elapsed = sim.run(options["duration"], options["workers"])
        self._summary(api, sim, elapsed)

    def _make_key(self, slug: str) -> str:
        from apps.projects.models import Project
        from apps.projects.services import api_key_create

        project = Project.objects.filter(slug=slug.strip().lower()).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'.")
        _, raw = api_key_create(project=project, name=f"simulate_agents {time.strftime('%F %T')}",
                                scope="write", actor_label="manage.py simulate_agents")
        self.stdout.write(f"Created write key {raw[:10]}… for project {project.slug}.")
        return raw

    def _summary(self, api: Api, sim: Simulation, elapsed: float) -> None:
        total = sum(api.calls.values())
        ok = sum(n for s, n in api.statuses.items() if 200 <= s < 300)
        lat = [v * 1000 for v in api.latencies]
        self.stdout.write(f"\nRan {elapsed:.1f} s: {total} requests ({total / max(elapsed, 1e-9):.1f}"
                          f"/s), {ok} succeeded; latency p50 {percentile(lat, 50):.1f} ms, "
                          f"p99 {percentile(lat, 99):.1f} ms.")
        for what, n in sorted(sim.totals.items()):
            self.stdout.write(f"  {what:<18} {n}")
        self.stdout.write("Requests by endpoint:")
        for label, n in sorted(api.calls.items()):
            self.stdout.write(f"  {label:<40} {n}")
        if api.failures:
            self.stdout.write(self.style.WARNING("Failures:"))
            for label, n in api.failures.most_common(10):
                self.stdout.write(f"  {n:>5} x {label}")
