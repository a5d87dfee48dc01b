#!/usr/bin/env python3
"""Switchboard hook for Claude Code: reports a session to Switchboard as an agent.

Standard library only; drop this one file anywhere and point Claude Code's hooks at it (see
README.md beside it). Configure with environment variables:

  SWITCHBOARD_URL          e.g. http://127.0.0.1:8000 (unset: the hook does nothing)
  SWITCHBOARD_API_KEY      a write-scoped project key, sbk_...
  SWITCHBOARD_AGENT_NAME   optional; default: the name of the session's working folder
  SWITCHBOARD_AGENT_LABEL  optional; a label to group agents by (backend, nightly, ...)
  SWITCHBOARD_STATE_DIR    optional; default $XDG_STATE_HOME/switchboard or ~/.switchboard
  SWITCHBOARD_TIMEOUT      optional; seconds the whole hook may take (default 2)

What it reports, through the batch endpoint `POST /api/v1/events` (docs/CONTRACTS.md):
  every session      -> an agent (kind claude-code, external_id = session_id), registered with an
                        `agent.register` event at the head of its first batch
  sub-agents         -> one agent per Claude Code agent_id ("<session_id>:<agent_id>"), created
                        by SubagentStart or its first hook, named and hung under its caller when
                        the Agent tool's response gives its agentId
  UserPromptSubmit   -> working; the turn counter (spans carry it) goes up by one
  PreToolUse         -> span.start (span_id = tool_use_id); PostToolUse -> span.finish with the
                        tool's duration_ms; PostToolUseFailure -> error (or cancelled) span
  PermissionRequest  -> blocked "waiting for permission to use <tool>: <what>"
  Notification       -> idle_prompt is idle; permission_prompt / elicitation_dialog blocked
  Stop               -> idle; StopFailure or an API error in the transcript -> error;
                        SessionEnd -> stopped; open spans end denied or cancelled
  transcripts        -> `usage` events, one per API request (requestId, else the message
                        id), with the turn and the model

And it obeys: the answer to each batch carries the session's waiting commands. PreToolUse and
UserPromptSubmit answer stop/sleep with `continue: false`; Stop answers a task with
`decision: block`; PermissionRequest waits for Allow/Deny from the control room (remote
approval). Every command carried out is acked with a `command.ack` event.

It must never slow Claude Code down or change what it does unasked:
  * it always exits 0 and writes to stdout only a command's JSON answer (SessionStart and
    UserPromptSubmit stdout is added to Claude's context; other hooks' JSON stdout is read as a
    decision);
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
`message.id` and `requestId`, so usage is counted once per request (the largest figures win),
under the request id Claude Code's own OpenTelemetry export uses too.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~10 ms to import, on every hook run
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
USER_AGENT = "switchboard-claude-code-hook/2"
POLL_EVERY = 0.5
APPROVAL_POLL = 0.3


def now_iso() -> str:
    # time, not datetime: one import less on every hook run. zip() without strict= elsewhere:
    # the hook runs on the user's Python, 3.8 and up.
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def new_key(prefix: str) -> str:
    return f"{prefix}-{os.urandom(16).hex()}"


def event(type_: str, external_id: str, data: dict[str, Any] | None = None, ts: str = "",
          prefix: str = "cc") -> dict[str, Any]:
    """One event of a POST /events batch, with its idempotency key."""
    return {"type": type_, "agent_external_id": external_id, "ts": ts or now_iso(),
            "data": data or {}, "idempotency_key": new_key(prefix)}


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
def _read_all(fd: int, deadline: Deadline) -> bytes | None:
    """stdin up to MAX_STDIN, waiting no longer than the deadline. select() works on pipes on
    POSIX only; on Windows a reader thread stands in for it."""
    if os.name == "nt":
        import threading

        box: list[bytes] = []
        reader = threading.Thread(target=lambda: box.append(sys.stdin.buffer.read(MAX_STDIN + 1)),
                                  daemon=True)
        reader.start()
        reader.join(deadline.left())
        return box[0] if box else None
    import select

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
        if chunk.rstrip().endswith(b"}"):
            # Claude Code does not always close stdin (StopFailure): a whole object is enough.
            try:
                json.loads(b"".join(chunks))
                break
            except ValueError:
                pass
    return b"".join(chunks)


def read_stdin(deadline: Deadline) -> dict[str, Any] | None:
    """The JSON object Claude Code writes on stdin, or None for anything else."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return None
        raw = _read_all(sys.stdin.fileno(), deadline)
        if raw is None:
            return None
        data = json.loads(raw.decode("utf-8", "replace"))
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


def new_lines(path: str, session: dict[str, Any]) -> list[bytes]:
    """The whole lines a JSONL transcript gained since the last read (the session keeps the
    offset); a line still being written is read next time. A file that shrank was replaced:
    it is read again from the start, and the callers' natural keys keep that from counting
    twice."""
    offsets = session.setdefault("transcript_offsets", {})
    try:
        with open(os.path.expanduser(path), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            start = int(offsets.get(path, 0))
            if start > end:
                start = 0
            fh.seek(start)
            blob = fh.read(min(end - start, MAX_TRANSCRIPT_READ))
    except (OSError, ValueError):
        return []
    complete = blob.rfind(b"\n") + 1
    offsets[path] = start + complete
    return blob[:complete].splitlines()


def read_usage(path: str, session: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], str]:
    """Token usage of the API responses in the transcript lines added since the last read, per
    message id: ({message id: {tokens..., model}}, last model). One response may be written as
    several lines with the same message id; only figures larger than those sent before count."""
    changed: dict[str, dict[str, Any]] = {}
    model = ""
    if not path:
        return changed, model
    seen: dict[str, list[int]] = session.setdefault("seen_messages", {})
    for raw in new_lines(path, session):
        if b'"usage"' not in raw:
            continue  # most lines are prompts, attachments and request blobs: skip the parse
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        message = line.get("message") if isinstance(line, dict) else None
        if line.get("isApiErrorMessage") is True and isinstance(message, dict):
            # The turn ended on an API error. StopFailure says so too, but Claude Code does not
            # wait for that hook before exiting, so the transcript is the dependable witness.
            text = next((c.get("text") for c in message.get("content") or []
                         if isinstance(c, dict) and c.get("type") == "text"), "")
            session["api_error"] = {"id": str(line.get("uuid") or ""), "text": str(text)[:1000],
                                    "error": str(line.get("error") or "api_error")}
            continue
        usage = message.get("usage") if isinstance(message, dict) else None
        if not isinstance(usage, dict) or message.get("model") == "<synthetic>":
            continue
        session["api_error"] = None  # a real answer came after it
        # The API request id first: Claude Code's own telemetry (OTLP api_request) names the
        # call by it, so both reports of one call merge into one usage row on the server.
        key = str(line.get("requestId") or message.get("id") or line.get("uuid") or "")
        if not key:
            continue
        figures = []
        for source, _ in USAGE_FIELDS:
            value = usage.get(source)
            figures.append(value if isinstance(value, int) and value > 0 else 0)
        before = seen.pop(key, [0, 0, 0, 0])
        after = [max(a, b) for a, b in zip(before, figures)]  # noqa: B905
        seen[key] = after  # re-inserted last: the dict stays in least-recently-seen order
        msg_model = message.get("model") if isinstance(message.get("model"), str) else ""
        if after != before:
            changed[key] = {**{dest: v for (_, dest), v in zip(USAGE_FIELDS, after)},  # noqa: B905
                            "model": msg_model}
        if msg_model:
            model = msg_model
    while len(seen) > SEEN_MESSAGES:
        seen.pop(next(iter(seen)))
    return changed, model


def waiting_for(data: dict[str, Any]) -> str:
    """What a permission prompt asks for: "permission to use Bash: rm -rf build"."""
    tool = str(data.get("tool_name") or "a tool")
    tool_input = data.get("tool_input")
    detail = ""
    if isinstance(tool_input, dict):
        detail = str(tool_input.get("command") or tool_input.get("file_path")
                     or tool_input.get("url") or tool_input.get("pattern") or "")
    return f"permission to use {tool}" + (f": {detail}" if detail else "")


# --- turning one hook call into events -------------------------------------------------------
class Reporter:
    """Builds the events for one hook call from its input and the session's saved state.
    Other agents whose hooks speak Claude Code's format (clients/hooks) subclass it."""

    kind = KIND

    def __init__(self, data: dict[str, Any], session: dict[str, Any],
                 commands: dict[str, dict[str, Any]] | None = None) -> None:
        self.data = data
        self.session = session
        self.commands = commands if commands is not None else {}
        self.sid: str = data["session_id"]
        self.events: list[dict[str, Any]] = []
        self.ts = now_iso()
        self.clock = time.time()

    def emit(self, type_: str, external_id: str, data: dict[str, Any] | None = None) -> None:
        self.events.append(event(type_, external_id, data, self.ts))

    # agents
    def folder(self) -> str:
        cwd = str(self.data.get("cwd") or self.session.get("cwd") or "")
        return os.path.basename(cwd.rstrip("/\\")) or "claude-code"

    def main_name(self) -> str:
        """Two sessions in one folder must be told apart: the folder and a short session id."""
        explicit = os.environ.get("SWITCHBOARD_AGENT_NAME", "").strip()
        if explicit:
            return explicit[:150]
        return f"{self.folder()[:130]} #{self.sid[:6]}"

    def ensure_main(self, force: bool = False) -> str:
        if force or not self.session.get("registered"):
            if self.data.get("cwd"):
                self.session["cwd"] = self.data["cwd"]
            metadata = {
                "cwd": self.data.get("cwd") or self.session.get("cwd") or "",
                "transcript_path": self.data.get("transcript_path") or "",
                "permission_mode": self.data.get("permission_mode") or "",
                "client": USER_AGENT,
            }
            body: dict[str, Any] = {"name": self.main_name(), "kind": self.kind,
                                    "external_id": self.sid, "metadata": metadata}
            if self.session.get("model"):
                body["model"] = self.session["model"]
            label = os.environ.get("SWITCHBOARD_AGENT_LABEL", "").strip()[:60]
            if label:
                body["label"] = label
            self.emit("agent.register", self.sid, body)
            self.session["registered"] = True
            self.session["last_heartbeat"] = self.clock
        return self.sid

    def subagents(self) -> dict[str, dict[str, Any]]:
        """Sub-agents by Claude Code's agent_id. Their hooks carry agent_id, SubagentStart and
        SubagentStop carry it, and the Agent tool's response says which agent_id its
        tool_use_id started (agentId): every pairing is by id, none by guesswork."""
        return self.session.setdefault("subagents", {})

    def subagent(self, agent_id: str, agent_type: str = "") -> dict[str, Any]:
        subs = self.subagents()
        sub = subs.get(agent_id)
        if sub is None:
            sub = {"external_id": f"{self.sid}:{agent_id}", "agent_type": agent_type,
                   "done": False, "label": "", "parent": self.sid, "transcript": ""}
            subs[agent_id] = sub
            self.register_subagent(sub)
            self.set_status(sub["external_id"], "working", "sub-agent started")
        return sub

    def register_subagent(self, sub: dict[str, Any]) -> None:
        label = sub["label"] or sub["agent_type"] or "sub-agent"
        self.ensure_main()
        self.emit("agent.register", sub["external_id"], {
            "name": f"{self.main_name()} › {label}"[:150], "kind": self.kind,
            "external_id": sub["external_id"], "parent_external_id": sub["parent"],
            "metadata": {k: v for k, v in (("subagent_type", sub["agent_type"]),
                                           ("tool_use_id", sub.get("tool_use_id", "")),
                                           ("prompt", sub.get("prompt", ""))) if v},
        })

    def current_agent(self) -> str:
        """The agent a hook call belongs to: the sub-agent when the call carries agent_id."""
        agent_id = self.data.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id:
            return self.ensure_main()
        return self.subagent(agent_id, str(self.data.get("agent_type") or ""))["external_id"]

    def finish_subagent(self, sub: dict[str, Any], reason: str) -> None:
        if not sub["done"]:
            sub["done"] = True
            if sub.get("transcript"):
                self.report_usage(sub["transcript"], sub["external_id"])
            self.close_spans(sub["external_id"], "cancelled", reason)
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
        if not path:
            return
        changed, model = read_usage(path, self.session)
        if model and external_id == self.sid and not self.session.get("model"):
            # Headless sessions say nothing of their model at SessionStart: the first answer does.
            self.session["model"] = model
            self.ensure_main(force=True)
        turn = int(self.session.get("turn") or 0)
        for key, figures in changed.items():
            data = {"key": key, "turn": turn, "tokens_reasoning": 0,
                    **{k: v for k, v in figures.items() if k != "model"}}
            if figures.get("model"):
                data["model"] = figures["model"]
            self.emit("usage", external_id, data)

    def report_all_usage(self) -> None:
        """Every transcript of the session: a sub-agent's last answer is often written after its
        SubagentStop, so its transcript is read again at the session's Stop and SessionEnd."""
        self.report_usage(str(self.data.get("transcript_path") or ""), self.sid)
        for sub in self.subagents().values():
            if sub.get("transcript"):
                self.report_usage(sub["transcript"], sub["external_id"])

    # spans
    def open_spans(self) -> dict[str, dict[str, Any]]:
        return self.session.setdefault("open", {})

    def close_spans(self, agent: str, outcome: str, reason: str, *, keep: str = "") -> None:
        """Finish spans of `agent` that will never get their PostToolUse: a tool denied at its
        permission prompt, or one running when the turn was interrupted or the session ended."""
        for span_id, span in list(self.open_spans().items()):
            if span["agent"] != agent or span_id == keep:
                continue
            self.open_spans().pop(span_id)
            this_outcome = "denied" if span.get("asked") else outcome
            self.emit("span.finish", agent, {
                "span_id": span_id, "phase": "finish", "turn": span.get("turn", 0),
                "tool_name": span.get("tool", ""), "outcome": this_outcome,
                "finished_at": self.ts, "error": (
                    "permission denied" if this_outcome == "denied" else reason)[:4000]})

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
        if source == "compact":
            # Compaction happens in the middle of work: the status stays what it was.
            self.emit("hook.compacted", self.sid, {"source": source})
        else:
            self.set_status(self.sid, "idle", f"session started ({source})")
        self.report_usage(str(self.data.get("transcript_path") or ""), self.sid)

    def on_user_prompt_submit(self) -> None:
        agent = self.ensure_main()
        prompt = self.data.get("prompt")
        text = prompt if isinstance(prompt, str) else ""
        self.session["turn"] = int(self.session.get("turn") or 0) + 1
        if text.lstrip().startswith("<task-notification>"):
            # Claude Code wakes the session itself when a background sub-agent finishes.
            summary = re.search(r"<summary>(.*?)</summary>", text, re.S)
            text = f"background task: {summary.group(1) if summary else 'finished'}"
        self.session["turn_reason"] = f"turn {self.session['turn']}: {text[:200]}".strip()
        self.session["hold"] = ""  # a person typed: a stop or sleep delivered earlier is over
        self.set_status(agent, "working", self.working_reason())
        self.emit("hook.user_prompt", agent, {"turn": self.session["turn"],
                                              "prompt": text[:2000], "prompt_size": len(text)})

    def working_reason(self) -> str:
        return str(self.session.get("turn_reason") or "working")

    def tool_ids(self) -> tuple[str, str]:
        tool_use_id = str(self.data.get("tool_use_id") or "")
        if not tool_use_id:  # older Claude Code versions: pair pre and post by name and input
            import uuid

            digest = uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(
                [self.data.get("tool_name"), self.data.get("tool_input")], sort_keys=True,
                default=str)).hex[:16]
            tool_use_id = f"cc-{digest}"
        return tool_use_id, str(self.data.get("tool_name") or "")

    def on_pre_tool_use(self) -> None:
        span_id, tool = self.tool_ids()
        agent = self.current_agent()
        # A span of this agent still open here was denied or abandoned: Claude Code goes on to
        # the next call only once the previous one is over (parallel calls are all pre'd first).
        self.close_spans(agent, "cancelled", "no result reported", keep=span_id)
        self.open_spans()[span_id] = {"agent": agent, "tool": tool, "clock": self.clock,
                                      "turn": int(self.session.get("turn") or 0),
                                      "input": self.data.get("tool_input")}
        text, size = clip(self.data.get("tool_input"))
        self.emit("span.start", agent, {
            "span_id": span_id, "phase": "start", "turn": int(self.session.get("turn") or 0),
            "tool_name": tool, "input": text, "input_size": size, "started_at": self.ts,
        })
        if agent == self.sid:
            self.set_status(agent, "working", self.working_reason())

    def finish_span(self, outcome: str, output: Any, error: str = "") -> None:
        span_id, tool = self.tool_ids()
        agent = self.current_agent()
        opened = self.open_spans().pop(span_id, None)
        text, size = clip(output)
        span: dict[str, Any] = {
            "span_id": span_id, "phase": "finish", "turn": int(self.session.get("turn") or 0),
            "tool_name": tool, "output": text, "output_size": size, "outcome": outcome,
            "finished_at": self.ts,
        }
        if opened is None:  # no PreToolUse seen (hook added mid-call): a whole span
            span["input"], span["input_size"] = clip(self.data.get("tool_input"))
        duration = self.data.get("duration_ms")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration >= 0:
            span["latency_ms"] = int(duration)  # the tool's own time, without the prompt's wait
        elif opened is not None:
            span["latency_ms"] = max(0, int((self.clock - float(opened["clock"])) * 1000))
        if error:
            span["error"] = error[:4000]
        self.emit("span.finish", agent, span)
        if agent == self.sid:
            self.set_status(agent, "working", self.working_reason())
        if tool in SUBAGENT_TOOLS:
            self.link_subagent(span_id, outcome, error)
        self.report_usage(str(self.data.get("transcript_path") or ""), self.sid)

    def link_subagent(self, span_id: str, outcome: str, error: str) -> None:
        """The Agent tool's response names the agent_id it started: name the sub-agent after
        the call's description and hang it under the caller (the session or a sub-agent)."""
        response = self.data.get("tool_response")
        response = response if isinstance(response, dict) else {}
        agent_id = response.get("agentId")
        if not isinstance(agent_id, str) or not agent_id:
            return
        tool_input = self.data.get("tool_input")
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        sub = self.subagent(agent_id, str(tool_input.get("subagent_type") or ""))
        caller = self.current_agent()
        label = str(tool_input.get("description") or "")
        if sub["label"] != label or sub["parent"] != caller or not sub.get("tool_use_id"):
            sub.update(label=label, parent=caller, tool_use_id=span_id,
                       prompt=clip(tool_input.get("prompt") or "")[0][:2000])
            self.register_subagent(sub)
        if response.get("status") in ("async_launched", "running"):
            return  # a background sub-agent: it ends with its own SubagentStop
        self.finish_subagent(sub, "finished" if outcome == "ok" else f"failed: {error[:200]}")

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
        interrupted = self.data.get("is_interrupt") is True
        self.finish_span("cancelled" if interrupted else "error", error,
                         str(error or "tool failed"))

    def on_permission_request(self) -> None:
        """Fires the moment the permission dialog opens (also in headless runs)."""
        agent = self.current_agent()
        what = waiting_for(self.data)
        for span in self.open_spans().values():
            if span["agent"] == agent and span["tool"] == self.data.get("tool_name") and \
                    span.get("input") == self.data.get("tool_input"):
                span["asked"] = True
        self.set_status(self.sid, "blocked", f"waiting for {what}"[:300])
        self.emit("hook.permission_request", agent, {
            "tool_name": str(self.data.get("tool_name") or ""),
            "input": clip(self.data.get("tool_input"))[0][:2000]})

    def on_notification(self) -> None:
        agent = self.ensure_main()
        kind = str(self.data.get("notification_type") or "")
        message = str(self.data.get("message") or "")
        if kind == "idle_prompt":
            # "Claude is waiting for your input" a minute after a turn ended: idle, not blocked.
            self.set_status(agent, "idle", "waiting for the next prompt")
        elif kind in ("permission_prompt", "elicitation_dialog"):
            self.set_status(agent, "blocked", f"waiting for input: {message}"[:300])
        self.emit("hook.notification", agent, {"notification_type": kind,
                                               "message": message[:2000]})

    def on_subagent_start(self) -> None:
        self.current_agent()  # registers it, working

    def on_stop(self) -> None:
        agent = self.ensure_main()
        self.report_all_usage()
        self.close_spans(agent, "cancelled", "turn ended")
        if self.report_api_error():
            return
        if not self.session.get("hold") and not self.mine("task"):
            self.set_status(agent, "idle", "turn finished")

    def on_stop_failure(self) -> None:
        """The turn ended on an API error (rate limit, overload, auth, server error)."""
        agent = self.ensure_main()
        self.report_all_usage()
        self.close_spans(agent, "cancelled", "turn failed")
        if not self.report_api_error():
            kind = str(self.data.get("error") or "api_error")
            self.api_error(kind, str(self.data.get("last_assistant_message") or ""))

    def report_api_error(self) -> bool:
        """An API error the transcript shows and nobody reported yet."""
        error = self.session.get("api_error")
        if not error or error.get("reported"):
            return False
        error["reported"] = True
        self.api_error(error["error"], error["text"])
        return True

    def api_error(self, kind: str, message: str) -> None:
        self.close_spans(self.sid, "cancelled", "turn failed")
        self.emit("agent.error", self.sid, {"message": f"{kind}: {message}"[:2000], "error": kind})
        self.set_status(self.sid, "error", f"{kind}: {message}"[:300])

    def on_subagent_stop(self) -> None:
        self.ensure_main()
        agent_id = self.data.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id:
            return
        sub = self.subagent(agent_id, str(self.data.get("agent_type") or ""))
        path = str(self.data.get("agent_transcript_path") or "")
        if path:
            sub["transcript"] = path
        self.finish_subagent(sub, "finished")

    def on_session_end(self) -> None:
        agent = self.ensure_main()
        self.report_all_usage()
        self.report_api_error()
        for sub in self.subagents().values():
            self.finish_subagent(sub, "session ended")
        self.close_spans(agent, "cancelled", "session ended")
        reason = str(self.data.get("reason") or "other")
        self.set_status(agent, "stopped", f"session ended ({reason})")
        self.session["ended"] = True
        self.session["open"] = {}

    # --- answering Claude Code: commands from the control room --------------------------------
    def mine(self, action: str = "") -> list[dict[str, Any]]:
        """Commands for this session or its sub-agents not carried out yet, oldest first."""
        return sorted((c for c in self.commands.values() if not c.get("acked")
                       and (not action or c.get("action") == action)
                       and (c.get("agent_external_id") == self.sid
                            or str(c.get("agent_external_id") or "").startswith(self.sid + ":"))),
                      key=lambda c: int(c.get("id") or 0))

    def decide(self) -> dict[str, Any] | None:
        """The JSON answer for this hook, if a command waiting for this session calls for one,
        and an ack event for every command it carried out or has nothing to do for."""
        hook = self.data["hook_event_name"]
        answer: dict[str, Any] | None = None
        for command in self.mine():
            action = command.get("action")
            who = str(command.get("actor_label") or "the control room")
            reason = str((command.get("data") or {}).get("reason") or "")
            if action in ("stop", "sleep") and hook in ("PreToolUse", "UserPromptSubmit", "Stop"):
                verb = "stopped" if action == "stop" else "put to sleep"
                text = f"Switchboard: {verb} by {who}" + (f" ({reason})" if reason else "")
                if hook != "Stop":  # at Stop the turn is over already: nothing to interrupt
                    answer = {"continue": False, "stopReason": text}
                    if hook == "PreToolUse":
                        answer["hookSpecificOutput"] = {
                            "hookEventName": "PreToolUse", "permissionDecision": "deny",
                            "permissionDecisionReason": text}
                self.session["hold"] = action
                status = "stopped" if action == "stop" else "sleeping"
                self.set_status(self.sid, status, text)
                self.ack(command, {"via": hook, "done": True})
                break
            if action == "task" and hook == "Stop" and not self.data.get("stop_hook_active"):
                data = command.get("data") or {}
                title = str(data.get("title") or "")
                body = str(data.get("description") or "")
                answer = {"decision": "block", "reason": (
                    f"New task from Switchboard (task {data.get('task_id')}): {title}"
                    + (f"\n\n{body}" if body else ""))[:8000]}
                self.session["task_id"] = data.get("task_id")
                self.session["turn_reason"] = f"task: {title}"[:200]
                self.set_status(self.sid, "working", self.working_reason())
                self.ack(command, {"via": hook, "done": True})
                break
            if action in ("wake", "restart", "unblock"):
                # Nothing to do in the session itself: the server already changed the status.
                self.ack(command, {"via": hook, "done": True, "note": "no action needed"})
        if hook == "Stop" and answer is None and self.session.get("task_id"):
            # The turn that worked on a task from Switchboard ended: the task is done.
            last = str(self.data.get("last_assistant_message") or "")
            self.emit("task.completed", self.sid, {"task_id": self.session.pop("task_id"),
                                                   "result": last[:4000]})
        return answer

    def ack(self, command: dict[str, Any], result: dict[str, Any]) -> None:
        command["acked"] = True
        self.emit("command.ack", str(command.get("agent_external_id") or self.sid),
                  {"command_id": command.get("id"), "result": result})


ANSWERING_HOOKS = {"PreToolUse", "UserPromptSubmit", "Stop"}


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


def post(url: str, key: str, body: bytes | None, timeout: float,
         method: str = "POST") -> tuple[int, Any]:
    """(HTTP status, JSON reply or None). Plain HTTP is spoken over a socket: http.client
    (which pulls in the email package) would add ~50 ms to every hook run. HTTPS goes through
    http.client and ssl, imported only then."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path or "/"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}",
               "User-Agent": USER_AGENT}
    if parts.scheme == "https":
        import http.client

        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            status, raw = response.status, response.read()
        except http.client.HTTPException as exc:
            raise OSError(f"bad HTTP answer: {exc!r}") from exc
        finally:
            conn.close()
    else:
        status, raw = _http(parts.hostname or "127.0.0.1", parts.port or 80, method, path,
                            headers, body or b"", timeout)
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None


def _http(host: str, port: int, method: str, path: str, headers: dict[str, str], body: bytes,
          timeout: float) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a fresh connection (Connection: close)."""
    import socket

    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((host, port), timeout=max(timeout, 0.05)) as sock:
        sock.settimeout(max(timeout, 0.05))
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, sep, payload = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if not sep or len(status_line) < 2 or not status_line[1].isdigit():
        raise OSError(f"bad HTTP answer: {raw[:80]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        payload = _unchunk(payload)
    return int(status_line[1]), payload


def _unchunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise OSError("bad chunked body") from None
        if size == 0:
            break
        out.append(rest[:size])
        data = rest[size + 2:]
    return b"".join(out)


def endpoint() -> tuple[str, str]:
    """(the API root, e.g. http://host:8000/api/v1, the key) from SWITCHBOARD_URL (with or
    without /api/v1) and SWITCHBOARD_API_KEY; empty strings when unset."""
    base = os.environ.get("SWITCHBOARD_URL", "").strip().rstrip("/")
    key = os.environ.get("SWITCHBOARD_API_KEY", "").strip()
    if not base:
        return "", key
    return (base if base.endswith("/api/v1") else base + "/api/v1"), key


def drain(root: Path, spool: Spool, deadline: Deadline) -> list[dict[str, Any]]:
    """Send spooled events oldest first until the spool is empty, the server is unreachable or
    time is up. Only one process sends at a time. Returns the commands the server handed out
    with its answers."""
    commands: list[dict[str, Any]] = []
    api, key = endpoint()
    if not api or not key:
        return commands
    url = api + "/events"
    sender = Lock(root / "send.lock")
    if not sender.acquire(deadline):
        return commands
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
                return commands
            if status in (200, 201) and isinstance(reply, dict):
                commands.extend(c for c in reply.get("commands") or [] if isinstance(c, dict))
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
            return commands  # 401/403/404/429/5xx: keep everything, try again next time
        # Everything sent: start the file afresh. Writers append under the state lock, and only
        # the holder of the send lock moves the offset, so nothing slips in between.
        state_lock = Lock(root / "state.lock")
        if state_lock.acquire(deadline):
            try:
                spool.compact()
            finally:
                state_lock.release()
    finally:
        if commands:
            # Stored before the send lock is released: a hook that waited for this sender
            # (and so got no answer of its own) finds them in the store.
            keep_commands(root, commands, deadline)
        sender.release()
    return commands


# --- main --------------------------------------------------------------------------------------
def prune(sessions: Path, keep_days: float = 14) -> None:
    cutoff = time.time() - keep_days * 86400
    for path in sessions.glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


class Commands:
    """Commands received from the server, shared by every session of this state folder (an
    answer may carry commands for any session whose events it took), until carried out."""

    KEEP_ACKED = 200

    def __init__(self, root: Path) -> None:
        self.path = root / "commands.json"
        stored = read_json(self.path, {})
        self.waiting: dict[str, dict[str, Any]] = stored.get("waiting") or {}
        self.acked: list[int] = stored.get("acked") or []

    def merge(self, received: list[dict[str, Any]]) -> bool:
        new = False
        for command in received:
            cid = command.get("id")
            if isinstance(cid, int) and cid not in self.acked and str(cid) not in self.waiting:
                self.waiting[str(cid)] = command
                new = True
        return new

    def save(self) -> None:
        for cid, command in list(self.waiting.items()):
            if command.get("acked"):
                self.waiting.pop(cid)
                self.acked.append(int(cid))
        self.acked = self.acked[-self.KEEP_ACKED:]
        if self.waiting or self.path.exists():
            write_atomic(self.path, json.dumps({"waiting": self.waiting, "acked": self.acked}))


def step(root: Path, spool: Spool, data: dict[str, Any], deadline: Deadline,
         received: list[dict[str, Any]] | None, reporter_class: type[Reporter] = Reporter,
         ) -> tuple[bool, dict[str, Any] | None]:
    """One locked pass over the session's state: report the hook call (first pass) or only
    act on commands that just arrived (second pass). (events spooled?, answer)."""
    lock = Lock(root / "state.lock")
    if not lock.acquire(deadline):
        return False, None
    try:
        path = root / "sessions" / f"{safe_name(data['session_id'])}.json"
        session = read_json(path, {})
        commands = Commands(root)
        if received is not None:  # the second pass: only when there is something to act on
            commands.merge(received)
            if not commands.waiting:
                return False, None
        reporter = reporter_class(data, session if isinstance(session, dict) else {},
                                  commands.waiting)
        if received is None:
            reporter.handle()
        answer = reporter.decide() if data["hook_event_name"] in ANSWERING_HOOKS else None
        # Spool first, then save the state: a crash in between re-sends, never loses.
        spool.append(reporter.events)
        write_atomic(path, json.dumps(reporter.session))
        commands.save()
        if received is None and data["hook_event_name"] == "SessionStart":
            prune(root / "sessions")
        return bool(reporter.events), answer
    finally:
        lock.release()


def run(deadline: Deadline, flush_only: bool = False, read: Any = None,
        reporter_class: type[Reporter] = Reporter) -> dict[str, Any] | None:
    """One hook call: report it, send the spool, answer. `read` (deadline -> the hook input in
    Claude Code's shape, or None) and `reporter_class` let other agents' adapters reuse it."""
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    (root / "sessions").mkdir(exist_ok=True)
    spool = Spool(root)
    data = None if flush_only else (read or read_stdin)(deadline)
    if data is None or not os.environ.get("SWITCHBOARD_URL", "").strip():
        drain(root, spool, deadline)
        return None
    event = data["hook_event_name"]
    debug(root, f"{event} {data['session_id'][:8]}")
    if event == "SessionEnd":
        stop_keepalive(root, data["session_id"])
    elif event in ("SessionStart", "UserPromptSubmit") and not data.get("agent_id"):
        start_keepalive(root, data["session_id"])
    _, answer = step(root, spool, data, deadline, None, reporter_class)
    received = drain(root, spool, deadline)
    if answer is None and event in ANSWERING_HOOKS and (received or Commands(root).waiting):
        # A command arrived with this very answer, or with the answer to a hook running beside
        # this one (async hooks run in parallel): act on it now rather than at the next hook.
        spooled, answer = step(root, spool, data, deadline, received, reporter_class)
        if spooled:
            drain(root, spool, deadline)  # the ack, so the page shows "done" at once
    approval_wait = env_float("SWITCHBOARD_APPROVAL_WAIT", 60)
    if answer is None and approval_wait > 0 and data["hook_event_name"] == "PermissionRequest":
        answer = ask_for_approval(root, data, Deadline(approval_wait))
    wait = env_float("SWITCHBOARD_WAIT_FOR_TASK", 0)
    if answer is None and wait > 0 and data["hook_event_name"] == "Stop":
        answer = wait_for_work(root, spool, data, Deadline(wait), reporter_class)
    return answer


def api_call(method: str, path: str, body: dict[str, Any] | None,
             timeout: float) -> tuple[int, Any]:
    api, key = endpoint()
    payload = json.dumps(body).encode() if body is not None else None
    return post(api + path, key, payload, timeout, method=method)


def ask_for_approval(root: Path, data: dict[str, Any],
                     deadline: Deadline) -> dict[str, Any] | None:
    """Remote approval: file the prompt with Switchboard and wait for a person to allow or deny
    it from the control room. Meanwhile Claude Code shows the hook running; when the wait is
    over without a decision, the terminal's own permission dialog decides, as without us."""
    body = {"agent_external_id": str(data["session_id"]), "key": new_key("perm"),
            "tool_name": str(data.get("tool_name") or ""), "summary": waiting_for(data)[:500],
            "input": clip(data.get("tool_input"))[0],
            "wait_seconds": max(1, int(deadline.left()))}
    if isinstance(data.get("agent_id"), str) and data["agent_id"]:
        body["agent_external_id"] = f"{data['session_id']}:{data['agent_id']}"
    try:
        status, reply = api_call("POST", "/approvals", body, timeout=min(5.0, deadline.left()))
    except (OSError, ValueError) as exc:
        debug(root, f"approval request failed: {exc!r}")
        return None
    if status not in (200, 201) or not isinstance(reply, dict) or "id" not in reply:
        debug(root, f"approval request answered {status}: {json.dumps(reply)[:300]}")
        return None
    approval = int(reply["id"])
    while reply.get("status") == "pending" and deadline.left() > 0:
        time.sleep(min(APPROVAL_POLL, deadline.left()))
        try:
            status, answer = api_call("GET", f"/approvals/{approval}", None, timeout=5.0)
        except (OSError, ValueError) as exc:
            debug(root, f"approval poll failed: {exc!r}")
            continue
        if status == 200 and isinstance(answer, dict):
            reply = answer
    decision = reply.get("status")
    if decision == "allowed":
        return {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                       "decision": {"behavior": "allow"}}}
    if decision == "denied":
        return {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
            "behavior": "deny", "message": str(reply.get("message") or "Denied from Switchboard")}}}
    try:  # nobody decided in time: say so, so the page stops offering the buttons
        api_call("POST", f"/approvals/{approval}/expire", {}, timeout=2.0)
    except (OSError, ValueError):
        pass
    return None


def wait_for_work(root: Path, spool: Spool, data: dict[str, Any], deadline: Deadline,
                  reporter_class: type[Reporter] = Reporter) -> dict[str, Any] | None:
    """A headless worker's Stop hook: ask for commands every POLL_EVERY seconds until a task
    (answered as the next turn) or a stop arrives, or the wait is over."""
    body = {"events": [{"type": "agent.heartbeat", "agent_external_id": data["session_id"],
                        "data": {"message": "waiting for a task"}}]}
    while deadline.left() > 0:
        try:
            status, reply = api_call("POST", "/events", body,
                                     timeout=min(5.0, deadline.left() + 0.1))
        except (OSError, ValueError) as exc:
            debug(root, f"waiting for work: {exc!r}")
            status, reply = 0, None
        received = reply.get("commands") if status == 200 and isinstance(reply, dict) else None
        if received:
            spooled, answer = step(root, spool, data, Deadline(5), received, reporter_class)
            if spooled:
                drain(root, spool, Deadline(5))
            if answer is not None:
                return answer
            session = read_json(root / "sessions" / f"{safe_name(data['session_id'])}.json", {})
            if session.get("hold"):
                return None  # stopped or put to sleep while waiting
        time.sleep(min(POLL_EVERY, deadline.left()))
    return None


def keep_commands(root: Path, received: list[dict[str, Any]], deadline: Deadline) -> None:
    lock = Lock(root / "state.lock")
    if lock.acquire(deadline):
        try:
            commands = Commands(root)
            if commands.merge(received):
                commands.save()
        finally:
            lock.release()


# --- keep-alive -------------------------------------------------------------------------------
SHELLS = {"sh", "bash", "dash", "zsh", "fish", "ksh"}


def _process(pid: int) -> tuple[str, int]:
    """(command name, parent pid) of a process; ("", 0) when it cannot be told."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
        return stat[stat.index("(") + 1:stat.rindex(")")], int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        pass
    import subprocess  # macOS and the BSDs: no /proc

    try:
        out = subprocess.run(["ps", "-o", "ppid=,comm=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=2).stdout.split(None, 1)
        return os.path.basename(out[1].strip()), int(out[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return "", 0


def agent_process() -> int:
    """The pid of Claude Code: the hook's parent, past the shell it runs hook commands in."""
    pid = os.getppid()
    for _ in range(3):
        name, parent = _process(pid)
        if name not in SHELLS or parent <= 1:
            break
        pid = parent
    return pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process, but there
        return True
    return True


def keepalive_file(root: Path, session_id: str) -> Path:
    return root / "keepalive" / f"{safe_name(session_id)}.pid"


def start_keepalive(root: Path, session_id: str) -> None:
    """A detached process that tells Switchboard every SWITCHBOARD_KEEPALIVE seconds (default
    60; 0 turns it off) that the session is still there, for as long as Claude Code runs: a
    5-minute build or a quiet terminal sends no hook, and would otherwise look blocked or
    offline. POSIX only; one per session."""
    every = env_float("SWITCHBOARD_KEEPALIVE", 60)
    if os.name != "posix" or every <= 0:
        return
    path = keepalive_file(root, session_id)
    try:
        if alive(int(path.read_text().strip() or 0)):
            return
    except (OSError, ValueError):
        pass
    import subprocess

    path.parent.mkdir(exist_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-S", os.path.abspath(__file__), "--keepalive", session_id,
         str(agent_process())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        close_fds=True, start_new_session=True, cwd=str(root))
    write_atomic(path, str(child.pid))  # at once, so the next hook does not start a second


def stop_keepalive(root: Path, session_id: str) -> None:
    try:
        keepalive_file(root, session_id).unlink()
    except OSError:
        pass


def keepalive(session_id: str, watched: int) -> None:
    """The keep-alive's loop: a heartbeat (which hands out no commands: the next hook acts on
    them) while the watched Claude Code process lives and SessionEnd has not removed our file."""
    root = state_dir()
    path = keepalive_file(root, session_id)
    me = str(os.getpid())
    every = max(1.0, env_float("SWITCHBOARD_KEEPALIVE", 60))
    api, key = endpoint()
    body = json.dumps({"events": [{"type": "agent.heartbeat", "agent_external_id": session_id,
                                   "data": {}}], "commands": False}).encode()
    try:
        while True:
            time.sleep(every)
            try:
                if not alive(watched) or path.read_text().strip() != me:
                    return
            except OSError:
                return
            try:
                status, _ = post(api + "/events", key, body, timeout=5.0)
                debug(root, f"keepalive {session_id[:8]}: {status}")
            except (OSError, ValueError) as exc:
                debug(root, f"keepalive {session_id[:8]}: {exc!r}")
    finally:
        try:
            if path.read_text().strip() == me:
                path.unlink()
        except OSError:
            pass


# --- settings ---------------------------------------------------------------------------------
# (event, async, timeout): hooks whose answer can carry a command (or a remote approval) run
# synchronously; the rest run with "async": true, so Claude Code does not wait for them.
HOOKS = (
    ("SessionStart", False, 10), ("UserPromptSubmit", False, 10), ("PreToolUse", False, 10),
    ("PermissionRequest", False, 120), ("Stop", False, 10), ("SessionEnd", False, 10),
    ("PostToolUse", True, 30), ("PostToolUseFailure", True, 30), ("Notification", True, 30),
    ("SubagentStart", True, 30), ("SubagentStop", True, 30), ("StopFailure", True, 30),
)


def hook_command(path: str = __file__, args: str = "") -> str:
    """How an agent should run the file at `path` (this one by default) with `args`: by this
    Python, with -S (the hook needs only the standard library; skipping site-packages saves
    5-40 ms), and imported as a module rather than run as a script, so Python keeps its compiled
    bytecode in __pycache__ instead of compiling 1,000+ lines on every run (~18 ms)."""
    python = sys.executable.replace("\\", "/")
    here = os.path.dirname(os.path.abspath(path)).replace("\\", "/")
    tail = f" {args}" if args else ""
    if any(c in here + python for c in "'\"$`\\"):
        return f'"{python}" -S "{here}/{os.path.basename(path)}"{tail}'  # plain, to be safe
    module = os.path.splitext(os.path.basename(path))[0]
    return (f'"{python}" -S -c "import sys; sys.dont_write_bytecode = False; '
            f"sys.path.insert(0, '{here}'); import {module}; {module}.main()\"{tail}")


def hook_settings() -> dict[str, Any]:
    """The `hooks` block of Claude Code's settings.json for this file."""
    command = hook_command()
    hooks: dict[str, Any] = {}
    for event, background, timeout in HOOKS:
        entry: dict[str, Any] = {"type": "command", "command": command, "timeout": timeout}
        if background:
            entry["async"] = True
        hooks[event] = [{"matcher": "*", "hooks": [entry]}]
    return {"hooks": hooks}


def merge_hooks(path: Path, hooks: dict[str, list[Any]], top: dict[str, Any] | None = None,
                key: str = "hooks") -> None:
    """Merge `hooks` (event -> entries) into the JSON file at `path`, keeping everything else:
    an earlier install of a Switchboard hook is replaced, other hooks stay. `top`: keys the file
    must have (e.g. a format version)."""
    settings = read_json(path, {}) if path.exists() else {}
    if not isinstance(settings, dict):
        raise SystemExit(f"{path} is not a JSON object; not touching it")
    for name, value in (top or {}).items():
        settings.setdefault(name, value)
    existing = settings.setdefault(key, {})
    for event, entries in hooks.items():
        kept = [e for e in existing.get(event, []) if "switchboard_hook" not in json.dumps(e)]
        existing[event] = kept + entries
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(settings, indent=2) + "\n")
    print(f"Switchboard hooks written to {path}")


def install(path: Path) -> None:
    merge_hooks(path, hook_settings()["hooks"])


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--settings"]:
        print(json.dumps(hook_settings(), indent=2))
        return
    if args[:1] == ["--install"]:
        install(Path(args[1]).expanduser() if len(args) > 1
                else Path.home() / ".claude" / "settings.json")
        return
    if args[:1] == ["--keepalive"] and len(args) == 3:
        try:
            keepalive(args[1], int(args[2]))
        except BaseException:  # noqa: BLE001
            pass
        os._exit(0)
    deadline = Deadline(env_float("SWITCHBOARD_TIMEOUT", 2.0))
    try:
        answer = run(deadline, flush_only="--flush" in args)
        if answer is not None:
            sys.stdout.write(json.dumps(answer))
            sys.stdout.flush()
    except BaseException as exc:  # noqa: BLE001 - a reporting hook must never break Claude Code
        try:
            debug(state_dir(), f"hook error: {exc!r}")
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
