#!/usr/bin/env python3
"""Switchboard hook for Claude Code: reports a session to Switchboard as an agent.

Standard library only; drop this one file anywhere and point Claude Code's hooks at it (see
README.md beside it). Configure with environment variables:

  SWITCHBOARD_URL          e.g. http://127.0.0.1:8000 (unset: the hook does nothing)
  SWITCHBOARD_API_KEY      a write-scoped project key, sbk_...
  SWITCHBOARD_AGENT_NAME   optional; default: the name of the session's working folder
  SWITCHBOARD_STATE_DIR    optional; default $XDG_STATE_HOME/switchboard or ~/.switchboard
  SWITCHBOARD_TIMEOUT      optional; seconds the whole hook may take (default 2)

What it reports, through the batch endpoint `POST /api/v1/events` (docs/CONTRACTS.md):
  every session      -> an agent (kind claude-code, external_id = session_id), registered with an
                        `agent.register` event at the head of its first batch
  Task/Agent tool    -> a sub-agent with the session as parent (external_id
                        "<session_id>:<tool_use_id>"); tool calls made inside it (hooks carrying
                        agent_id) are its spans; SubagentStop or the tool's end stops it
  UserPromptSubmit   -> working; the turn counter (spans carry it) goes up by one
  PreToolUse         -> span.start (span_id = tool_use_id); PostToolUse -> span.finish with the
                        latency measured between the two hooks; PostToolUseFailure -> error span
  Notification       -> blocked "waiting for input" (permission_prompt, idle_prompt)
  Stop               -> idle; SessionEnd -> stopped
  transcript         -> `usage` events (input, output, cache read, cache write tokens) from the
                        session transcript JSONL, reading only the lines added since last time

It must never slow Claude Code down or change what it does:
  * it always exits 0 and never writes to stdout (SessionStart and UserPromptSubmit stdout is added
    to Claude's context; other hooks' JSON stdout is read as a decision);
  * the whole run is bounded by SWITCHBOARD_TIMEOUT;
  * events are first appended to a local spool (JSONL, each with an idempotency key), then sent
    oldest first. When the server is down they stay in the spool and the next run sends them,
    in order, before its own. A retry after a lost response is a harmless duplicate.

Hook input formats follow Claude Code's hooks reference, https://code.claude.com/docs/en/hooks
("Hook input" and the per-event input sections): common fields session_id, transcript_path, cwd,
permission_mode, hook_event_name (plus agent_id/agent_type inside sub-agents); SessionStart
`source` (startup|resume|clear|compact); UserPromptSubmit `prompt`; PreToolUse `tool_name`,
`tool_input`, `tool_use_id`; PostToolUse adds `tool_response`; PostToolUseFailure `error`;
Notification `message` and `notification_type` (permission_prompt, idle_prompt, ...); Stop and
SubagentStop `stop_hook_active` (SubagentStop also agent_id, agent_type, agent_transcript_path);
SessionEnd `reason` (clear|logout|prompt_input_exit|other). Exit code 0 with stdout added to the
context for UserPromptSubmit and SessionStart is from the reference's "Simple: Exit Code" section.
Transcript lines carry `message.usage` {input_tokens, output_tokens, cache_read_input_tokens,
cache_creation_input_tokens}; one API response may be written as several lines with the same
`message.id`, so usage is counted once per message id (the largest figures win).
"""

from __future__ import annotations

import json
import os
import re
import select
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the hook still works, just unserialised
    fcntl = None  # type: ignore[assignment]

KIND = "claude-code"
SUBAGENT_TOOLS = {"Task", "Agent"}
MAX_STDIN = 8 * 1024 * 1024
MAX_PAYLOAD = 16 * 1024  # the server keeps 16 KB of a span's input/output; send no more
MAX_TRANSCRIPT_READ = 8 * 1024 * 1024
BATCH_EVENTS = 500
BATCH_BYTES = 900 * 1024  # the server refuses bodies over 1 MB
SEEN_MESSAGES = 400
HEARTBEAT_EVERY = 30.0
USER_AGENT = "switchboard-claude-code-hook/1"


def now_iso() -> str:
    # timezone.utc and zip() without strict=: the hook runs on the user's Python, 3.8 and up.
    stamp = datetime.now(timezone.utc)  # noqa: UP017
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


# --- files and locks ------------------------------------------------------------------------
def state_dir() -> Path:
    explicit = os.environ.get("SWITCHBOARD_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    return Path(xdg).expanduser() / "switchboard" if xdg else Path.home() / ".switchboard"


class Lock:
    """An flock on a file, waited for only until the deadline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, deadline: Deadline) -> bool:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is None:
            return True
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:
                if deadline.left() <= 0:
                    os.close(self.fd)
                    self.fd = None
                    return False
                time.sleep(0.01)

    def release(self) -> None:
        if self.fd is not None:
            if fcntl is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def safe_name(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", value)[:120] or "_"


def debug(root: Path, message: str) -> None:
    if os.environ.get("SWITCHBOARD_DEBUG"):
        try:
            with open(root / "hook.log", "a") as fh:
                fh.write(f"{now_iso()} {message}\n")
        except OSError:
            pass


# --- reading the hook input -------------------------------------------------------------------
def read_stdin(deadline: Deadline) -> dict[str, Any] | None:
    """The JSON object Claude Code writes on stdin, or None for anything else."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return None
        fd = sys.stdin.fileno()
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_STDIN:
            ready, _, _ = select.select([fd], [], [], deadline.left())
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = json.loads(b"".join(chunks).decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("session_id"), str):
        return None
    if not data["session_id"] or not isinstance(data.get("hook_event_name"), str):
        return None
    return data


def clip(value: Any) -> tuple[str, int]:
    """(text at most MAX_PAYLOAD characters, original size in bytes)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    size = len(text.encode("utf-8", "replace"))
    return (text[:MAX_PAYLOAD], size)


# --- the transcript ------------------------------------------------------------------------
USAGE_FIELDS = (
    ("input_tokens", "tokens_input"),
    ("output_tokens", "tokens_output"),
    ("cache_read_input_tokens", "tokens_cache_read"),
    ("cache_creation_input_tokens", "tokens_cache_write"),
)


def read_usage(path: str, session: dict[str, Any]) -> tuple[dict[str, int], str]:
    """Token usage in the transcript lines added since the last read: (totals, last model)."""
    totals = {dest: 0 for _, dest in USAGE_FIELDS}
    model = ""
    if not path:
        return totals, model
    offsets = session.setdefault("transcript_offsets", {})
    seen: dict[str, list[int]] = session.setdefault("seen_messages", {})
    try:
        with open(os.path.expanduser(path), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            start = int(offsets.get(path, 0))
            if start > end:  # the file was replaced; message ids keep us from counting twice
                start = 0
            fh.seek(start)
            blob = fh.read(min(end - start, MAX_TRANSCRIPT_READ))
    except (OSError, ValueError):
        return totals, model
    complete = blob.rfind(b"\n") + 1  # a line still being written is read next time
    offsets[path] = start + complete
    for raw in blob[:complete].splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        message = line.get("message") if isinstance(line, dict) else None
        usage = message.get("usage") if isinstance(message, dict) else None
        if not isinstance(usage, dict):
            continue
        key = str(message.get("id") or line.get("requestId") or line.get("uuid") or "")
        figures = []
        for source, _ in USAGE_FIELDS:
            value = usage.get(source)
            figures.append(value if isinstance(value, int) and value > 0 else 0)
        before = seen.pop(key, [0, 0, 0, 0]) if key else [0, 0, 0, 0]
        after = [max(a, b) for a, b in zip(before, figures)]  # noqa: B905
        for (_, dest), old, new in zip(USAGE_FIELDS, before, after):  # noqa: B905
            totals[dest] += new - old
        if key:
            seen[key] = after  # re-inserted last: the dict stays in least-recently-seen order
        if isinstance(message.get("model"), str) and message["model"] != "<synthetic>":
            model = message["model"]
    while len(seen) > SEEN_MESSAGES:
        seen.pop(next(iter(seen)))
    return totals, model


# --- turning one hook call into events -------------------------------------------------------
class Reporter:
    """Builds the events for one hook call from its input and the session's saved state."""

    def __init__(self, data: dict[str, Any], session: dict[str, Any]) -> None:
        self.data = data
        self.session = session
        self.sid: str = data["session_id"]
        self.events: list[dict[str, Any]] = []
        self.ts = now_iso()
        self.clock = time.time()

    def emit(self, type_: str, external_id: str, data: dict[str, Any] | None = None) -> None:
        self.events.append({
            "type": type_,
            "agent_external_id": external_id,
            "ts": self.ts,
            "data": data or {},
            "idempotency_key": f"cc-{uuid.uuid4().hex}",
        })

    # agents
    def main_name(self) -> str:
        explicit = os.environ.get("SWITCHBOARD_AGENT_NAME", "").strip()
        if explicit:
            return explicit[:150]
        cwd = str(self.data.get("cwd") or "")
        return (os.path.basename(cwd.rstrip("/")) or "claude-code")[:150]

    def ensure_main(self, force: bool = False) -> str:
        if force or not self.session.get("registered"):
            metadata = {
                "cwd": self.data.get("cwd") or "",
                "transcript_path": self.data.get("transcript_path") or "",
                "permission_mode": self.data.get("permission_mode") or "",
                "client": USER_AGENT,
            }
            body: dict[str, Any] = {"name": self.main_name(), "kind": KIND,
                                    "external_id": self.sid, "metadata": metadata}
            if self.session.get("model"):
                body["model"] = self.session["model"]
            self.emit("agent.register", self.sid, body)
            self.session["registered"] = True
            self.session["last_heartbeat"] = self.clock
        return self.sid

    def subagents(self) -> dict[str, dict[str, Any]]:
        return self.session.setdefault("subagents", {})

    def start_subagent(self, tool_use_id: str, tool_input: Any) -> str:
        parent = self.ensure_main()
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        agent_type = str(tool_input.get("subagent_type") or "")
        label = str(tool_input.get("description") or agent_type or "sub-agent")
        external_id = f"{self.sid}:{tool_use_id}"
        self.subagents()[tool_use_id] = {"external_id": external_id, "agent_type": agent_type,
                                         "agent_id": "", "done": False, "started": self.clock}
        self.emit("agent.register", external_id, {
            "name": f"{self.main_name()} › {label}"[:150],
            "kind": KIND,
            "external_id": external_id,
            "parent_external_id": parent,
            "metadata": {"subagent_type": agent_type, "tool_use_id": tool_use_id,
                         "prompt": clip(tool_input.get("prompt") or "")[0][:2000]},
        })
        self.set_status(external_id, "working", "started by the Task tool")
        return external_id

    def current_agent(self) -> str:
        """The agent a hook call belongs to: a sub-agent when the call carries agent_id."""
        agent_id = self.data.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id:
            return self.ensure_main()
        subs = self.subagents()
        for sub in subs.values():
            if sub["agent_id"] == agent_id:
                return sub["external_id"]
        # The first call from a new sub-agent: pair it with the oldest running Task call of the
        # same type (Claude Code does not pass the tool_use_id into the sub-agent's hooks).
        agent_type = str(self.data.get("agent_type") or "")
        waiting = sorted((s for s in subs.values() if not s["agent_id"] and not s["done"]),
                         key=lambda s: s["started"])
        match = next((s for s in waiting if s["agent_type"] == agent_type), None) or next(
            iter(waiting), None)
        if match is None:
            match = {"external_id": f"{self.sid}:{agent_id}", "agent_type": agent_type,
                     "agent_id": agent_id, "done": False, "started": self.clock}
            subs[agent_id] = match
            self.emit("agent.register", match["external_id"], {
                "name": f"{self.main_name()} › {agent_type or 'sub-agent'}"[:150],
                "kind": KIND, "external_id": match["external_id"],
                "parent_external_id": self.ensure_main(),
                "metadata": {"subagent_type": agent_type, "agent_id": agent_id},
            })
            self.set_status(match["external_id"], "working", "sub-agent started")
        match["agent_id"] = agent_id
        return match["external_id"]

    def finish_subagent(self, sub: dict[str, Any], reason: str) -> None:
        if not sub["done"]:
            sub["done"] = True
            self.set_status(sub["external_id"], "stopped", reason)

    # status, heartbeats, usage
    def set_status(self, external_id: str, status: str, reason: str) -> None:
        statuses = self.session.setdefault("statuses", {})
        if statuses.get(external_id) == [status, reason]:
            return
        statuses[external_id] = [status, reason]
        self.emit("agent.status", external_id, {"status": status, "reason": reason[:300]})

    def heartbeat(self, external_id: str) -> None:
        if self.clock - float(self.session.get("last_heartbeat") or 0) >= HEARTBEAT_EVERY:
            self.session["last_heartbeat"] = self.clock
            self.emit("agent.heartbeat", external_id, {"message": self.data["hook_event_name"]})

    def report_usage(self, path: str, external_id: str) -> None:
        totals, model = read_usage(path, self.session)
        if model and external_id == self.sid and model != self.session.get("model"):
            self.session["model"] = model
        if any(totals.values()):
            self.emit("usage", external_id, {**totals, "tokens_reasoning": 0,
                                             **({"model": model} if model else {})})

    # one handler per hook event
    def handle(self) -> None:
        name = self.data["hook_event_name"]
        handler = getattr(self, f"on_{re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()}", None)
        if handler is None:
            agent = self.current_agent()
            self.emit(f"hook.{safe_name(name).lower()}"[:64], agent, {"hook": name})
        else:
            handler()
        if self.events:
            self.heartbeat(self.sid)
        self.session["touched"] = self.clock

    def on_session_start(self) -> None:
        source = str(self.data.get("source") or "startup")
        model = self.data.get("model")
        if isinstance(model, str) and model:
            self.session["model"] = model
        self.session["ended"] = False
        self.ensure_main(force=True)
        self.set_status(self.sid, "idle", f"session started ({source})")
        self.report_usage(str(self.data.get("transcript_path") or ""), self.sid)

    def on_user_prompt_submit(self) -> None:
        agent = self.ensure_main()
        self.session["turn"] = int(self.session.get("turn") or 0) + 1
        prompt = self.data.get("prompt")
        text = prompt if isinstance(prompt, str) else ""
        self.session["turn_reason"] = f"turn {self.session['turn']}: {text[:200]}".strip()
        self.set_status(agent, "working", self.working_reason())
        self.emit("hook.user_prompt", agent, {"turn": self.session["turn"],
                                              "prompt": text[:2000], "prompt_size": len(text)})

    def working_reason(self) -> str:
        return str(self.session.get("turn_reason") or "working")

    def tool_ids(self) -> tuple[str, str]:
        tool_use_id = str(self.data.get("tool_use_id") or "")
        if not tool_use_id:  # older Claude Code versions: pair pre and post by name and input
            digest = uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(
                [self.data.get("tool_name"), self.data.get("tool_input")], sort_keys=True,
                default=str)).hex[:16]
            tool_use_id = f"cc-{digest}"
        return tool_use_id, str(self.data.get("tool_name") or "")

    def on_pre_tool_use(self) -> None:
        span_id, tool = self.tool_ids()
        agent = self.current_agent()
        self.session.setdefault("pre", {})[span_id] = self.clock
        text, size = clip(self.data.get("tool_input"))
        self.emit("span.start", agent, {
            "span_id": span_id, "phase": "start", "turn": int(self.session.get("turn") or 0),
            "tool_name": tool, "input": text, "input_size": size, "started_at": self.ts,
        })
        if agent == self.sid:
            self.set_status(agent, "working", self.working_reason())
        if tool in SUBAGENT_TOOLS and agent == self.sid:
            self.start_subagent(span_id, self.data.get("tool_input"))

    def finish_span(self, outcome: str, output: Any, error: str = "") -> None:
        span_id, tool = self.tool_ids()
        agent = self.current_agent()
        started = self.session.setdefault("pre", {}).pop(span_id, None)
        text, size = clip(output)
        span: dict[str, Any] = {
            "span_id": span_id, "phase": "finish", "turn": int(self.session.get("turn") or 0),
            "tool_name": tool, "output": text, "output_size": size, "outcome": outcome,
            "finished_at": self.ts,
        }
        if started is None:  # no PreToolUse seen (hook added mid-call): a whole span
            span["input"], span["input_size"] = clip(self.data.get("tool_input"))
        else:
            span["latency_ms"] = max(0, int((self.clock - float(started)) * 1000))
        if error:
            span["error"] = error[:4000]
        self.emit("span.finish", agent, span)
        if agent == self.sid:  # e.g. after a permission prompt was answered
            self.set_status(agent, "working", self.working_reason())
        sub = self.subagents().get(span_id)
        if sub is not None:
            self.finish_subagent(sub, "finished" if outcome == "ok" else f"failed: {error[:200]}")
        self.report_usage(str(self.data.get("transcript_path") or ""), self.sid)

    def on_post_tool_use(self) -> None:
        response = self.data.get("tool_response")
        failed = isinstance(response, dict) and (
            response.get("is_error") is True or response.get("success") is False)
        error = ""
        if failed:
            error = str(response.get("error") or response.get("stderr") or "tool reported failure")
        self.finish_span("error" if failed else "ok", response, error)

    def on_post_tool_use_failure(self) -> None:
        error = self.data.get("error")
        self.finish_span("error", error, str(error or "tool failed"))

    def on_notification(self) -> None:
        agent = self.ensure_main()
        kind = str(self.data.get("notification_type") or "")
        message = str(self.data.get("message") or "")
        lowered = message.lower()
        waiting = kind in ("permission_prompt", "idle_prompt", "elicitation_dialog") or (
            not kind and ("permission" in lowered or "waiting for your input" in lowered))
        if waiting:
            self.set_status(agent, "blocked", f"waiting for input: {message}"[:300])
        self.emit("hook.notification", agent, {"notification_type": kind,
                                               "message": message[:2000]})

    def on_stop(self) -> None:
        agent = self.ensure_main()
        self.report_usage(str(self.data.get("transcript_path") or ""), agent)
        self.set_status(agent, "idle", "turn finished")

    def on_subagent_stop(self) -> None:
        self.ensure_main()
        agent_id = self.data.get("agent_id")
        subs = self.subagents()
        sub = None
        if isinstance(agent_id, str) and agent_id:
            external_id = self.current_agent()
            sub = next((s for s in subs.values() if s["external_id"] == external_id), None)
        else:  # older versions say nothing about which one: the oldest still running
            running = sorted((s for s in subs.values() if not s["done"]),
                             key=lambda s: s["started"])
            sub = running[0] if running else None
        if sub is None:
            return
        path = str(self.data.get("agent_transcript_path") or "")
        if path:
            self.report_usage(path, sub["external_id"])
        self.finish_subagent(sub, "finished")

    def on_session_end(self) -> None:
        agent = self.ensure_main()
        self.report_usage(str(self.data.get("transcript_path") or ""), agent)
        for sub in self.subagents().values():
            self.finish_subagent(sub, "session ended")
        reason = str(self.data.get("reason") or "other")
        self.set_status(agent, "stopped", f"session ended ({reason})")
        self.session["ended"] = True
        self.session["pre"] = {}


# --- the spool and the sender -------------------------------------------------------------
class Spool:
    """Events waiting to be sent, oldest first. `spool.jsonl` only grows while events wait;
    `spool.offset` says how much of it the server already has; both reset once all is sent."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "spool.jsonl"
        self.offset_path = root / "spool.offset"
        self.rejected_path = root / "rejected.jsonl"

    def append(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        lines = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n"
                        for e in events)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def offset(self) -> int:
        try:
            return int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def pending(self, limit_events: int, limit_bytes: int) -> tuple[list[dict[str, Any]], int]:
        """The next batch from the spool and the offset just after it."""
        start = self.offset()
        try:
            with open(self.path, "rb") as fh:
                if start > os.fstat(fh.fileno()).st_size:
                    start = 0  # the offset outlived its file
                fh.seek(start)
                blob = fh.read(limit_bytes * 2)
        except OSError:
            return [], start
        events: list[dict[str, Any]] = []
        used = 0
        size = 0
        for line in blob.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # being written right now
            if events and (len(events) >= limit_events or size + len(line) > limit_bytes):
                break
            used += len(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a torn line after a crash: skip it
            if isinstance(event, dict):
                events.append(event)
                size += len(line)
        return events, start + used

    def advance(self, offset: int) -> None:
        write_atomic(self.offset_path, str(offset))

    def reject(self, event: dict[str, Any], why: str) -> None:
        with open(self.rejected_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": now_iso(), "why": why, "event": event}) + "\n")

    def compact(self) -> None:
        """Called with the state lock held (no writer appends meanwhile)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if self.offset() >= size:
            self.advance(0)  # first: a crash before the truncate re-sends, never skips
            with open(self.path, "w"):
                pass


def post(url: str, key: str, body: bytes, timeout: float) -> tuple[int, Any]:
    """(HTTP status, JSON reply or None). http.client rather than urllib: less to import on
    every hook run."""
    import http.client  # here, after the local work: only a run that sends pays for it
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("POST", parts.path or "/", body=body, headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {key}",
            "User-Agent": USER_AGENT,
        })
        response = conn.getresponse()
        raw = response.read()
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {exc!r}") from exc
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw or b"null")
    except ValueError:
        return response.status, None


def drain(root: Path, spool: Spool, deadline: Deadline) -> None:
    """Send spooled events oldest first until the spool is empty, the server is unreachable or
    time is up. Only one process sends at a time."""
    base = os.environ.get("SWITCHBOARD_URL", "").strip().rstrip("/")
    key = os.environ.get("SWITCHBOARD_API_KEY", "").strip()
    if not base or not key:
        return
    url = base + "/api/v1/events" if not base.endswith("/api/v1") else base + "/events"
    sender = Lock(root / "send.lock")
    if not sender.acquire(deadline):
        return
    try:
        while deadline.left() > 0.05:
            events, next_offset = spool.pending(BATCH_EVENTS, BATCH_BYTES)
            if not events:
                if next_offset != spool.offset():
                    spool.advance(next_offset)
                break
            body = json.dumps({"events": events}, ensure_ascii=False).encode()
            try:
                status, reply = post(url, key, body, timeout=max(deadline.left(), 0.05))
            except (OSError, ValueError) as exc:  # unreachable, timed out, garbled
                debug(root, f"send failed: {exc!r}")
                return
            if status in (200, 201) and isinstance(reply, dict):
                for result in reply.get("results") or []:
                    if isinstance(result, dict) and result.get("status") == "error":
                        index = result.get("index")
                        if isinstance(index, int) and 0 <= index < len(events):
                            spool.reject(events[index], str(result.get("error") or ""))
                spool.advance(next_offset)
                continue
            if status in (400, 413, 422):
                # The server will never take this batch; keep it for a human, don't block the rest.
                for event in events:
                    spool.reject(event, f"HTTP {status}: {json.dumps(reply)[:500]}")
                spool.advance(next_offset)
                continue
            debug(root, f"server answered {status}; keeping the spool")
            return  # 401/403/404/429/5xx: keep everything, try again next time
        # Everything sent: start the file afresh. Writers append under the state lock, and only
        # the holder of the send lock moves the offset, so nothing slips in between.
        state_lock = Lock(root / "state.lock")
        if state_lock.acquire(deadline):
            try:
                spool.compact()
            finally:
                state_lock.release()
    finally:
        sender.release()


# --- main --------------------------------------------------------------------------------------
def prune(sessions: Path, keep_days: float = 14) -> None:
    cutoff = time.time() - keep_days * 86400
    for path in sessions.glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


def run(deadline: Deadline, flush_only: bool = False) -> None:
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    sessions = root / "sessions"
    sessions.mkdir(exist_ok=True)
    spool = Spool(root)
    data = None if flush_only else read_stdin(deadline)
    if data is not None and os.environ.get("SWITCHBOARD_URL", "").strip():
        lock = Lock(root / "state.lock")
        if lock.acquire(deadline):
            try:
                path = sessions / f"{safe_name(data['session_id'])}.json"
                session = read_json(path, {})
                reporter = Reporter(data, session if isinstance(session, dict) else {})
                reporter.handle()
                # Spool first, then save the state: a crash in between re-sends, never loses.
                spool.append(reporter.events)
                write_atomic(path, json.dumps(reporter.session))
                if data["hook_event_name"] == "SessionStart":
                    prune(sessions)
            finally:
                lock.release()
    drain(root, spool, deadline)


def main() -> None:
    deadline = Deadline(env_float("SWITCHBOARD_TIMEOUT", 2.0))
    try:
        run(deadline, flush_only="--flush" in sys.argv[1:])
    except BaseException as exc:  # noqa: BLE001 - a reporting hook must never break Claude Code
        try:
            debug(state_dir(), f"hook error: {exc!r}")
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
