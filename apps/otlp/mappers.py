"""OTLP records → facts (apps/otlp/facts.py), one mapper per emitter.

The emitter is told by the record itself: Claude Code's events and spans are named
`claude_code.*`, Codex's `codex.*`, Gemini CLI's `gemini_cli.*`; anything else is read with the
OpenTelemetry GenAI semantic conventions (`gen_ai.*`: Copilot, OpenCode's AI SDK spans, any
instrumented agent). Records that are valid but say nothing Switchboard keeps (plugin loads,
settings, unknown metrics) are accepted and dropped; records with impossible figures
(negative or non-finite tokens, costs, durations) are rejected and counted in the OTLP partial
success answer."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from apps.agents.kinds import normalize_kind
from apps.core.times import in_window
from apps.otlp.facts import Activity, Error, Facts, Point, Session, ToolCall, Usage

MAX_TOKENS = 10**12
MAX_COST = Decimal("999999")
MAX_MS = 7 * 24 * 3600 * 1000
# Resource attributes kept in the agent's metadata (the rest of the semantic conventions is
# noise for a person); attributes outside any convention (OTEL_RESOURCE_ATTRIBUTES=team=...)
# become labels.
KEPT = ("service.name", "service.version", "service.instance.id", "host.name", "os.type",
        "user.email", "user.id", "user.account_uuid", "organization.id", "terminal.type",
        "deployment.environment", "deployment.environment.name")
CONVENTION_PREFIXES = ("service.", "host.", "os.", "process.", "telemetry.", "user.", "cloud.",
                       "container.", "k8s.", "deployment.", "device.", "organization.",
                       "session.", "terminal.", "app.", "anthropic.", "gen_ai.", "faas.",
                       "webengine.", "browser.")


class Bad(ValueError):
    """A record with an impossible figure: rejected, counted in partial_success."""


# --- values -----------------------------------------------------------------------------------
def value(any_value: Any) -> Any:
    """An OTLP AnyValue as a Python value."""
    which = any_value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if which == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    if which == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, which)


def attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs}


def text(a: dict[str, Any], *names: str, limit: int = 300) -> str:
    for name in names:
        v = a.get(name)
        if v not in (None, ""):
            return str(v)[:limit]
    return ""


def number(a: dict[str, Any], *names: str) -> float | None:
    """The first present attribute as a finite number (ints may come as strings)."""
    for name in names:
        v = a.get(name)
        if v is None or v == "" or isinstance(v, bool):
            continue
        try:
            n = float(v)
        except (TypeError, ValueError):
            raise Bad(f"{name}: {str(v)[:40]!r} is not a number") from None
        if not math.isfinite(n):
            raise Bad(f"{name}: not a finite number")
        return n
    return None


def count(a: dict[str, Any], *names: str, limit: int = MAX_TOKENS) -> int:
    n = number(a, *names)
    if n is None:
        return 0
    if n < 0 or n > limit:
        raise Bad(f"{names[0]}: {n:g} is out of range")
    return int(n)


def millis(a: dict[str, Any], *names: str) -> int | None:
    n = number(a, *names)
    if n is None:
        return None
    if n < 0 or n > MAX_MS:
        raise Bad(f"{names[0]}: {n:g} ms is out of range")
    return int(round(n))


def dollars(a: dict[str, Any], *names: str) -> Decimal | None:
    n = number(a, *names)
    if n is None:
        return None
    try:
        cost = Decimal(str(n))
    except InvalidOperation:
        raise Bad(f"{names[0]}: not a number") from None
    if cost < 0 or cost > MAX_COST:
        raise Bad(f"{names[0]}: {n:g} USD is out of range")
    return cost


def truth(v: Any, default: bool = True) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip():
        return v.strip().lower() in ("true", "1", "yes", "ok", "success")
    if isinstance(v, int | float):
        return bool(v)
    return default


def moment(*nanos: int) -> datetime:
    """The first usable time among the given Unix nanoseconds; now when none is."""
    for ns in nanos:
        if ns:
            try:
                ts = datetime.fromtimestamp(ns / 1e9, tz=UTC)
            except (OverflowError, OSError, ValueError):
                continue
            if in_window(ts):
                return ts
    return timezone.now()


def digest(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]


# --- who: the session -------------------------------------------------------------------------
def session_for(resource: dict[str, Any], a: dict[str, Any]) -> Session:
    service = text(resource, "service.name") or text(a, "service.name")
    # Not `thread.id`: in the semantic conventions (and in Codex's spans) it is the OS thread.
    sid = text(a, "session.id", "conversation.id", "gen_ai.conversation.id", limit=200) \
        or text(resource, "session.id", "gen_ai.conversation.id", "service.instance.id",
                limit=200)
    kind = normalize_kind(service) or "custom"
    if kind == "custom" and service.startswith("codex"):
        kind = "codex"
    who = text(resource, "user.email") or text(a, "user.email") or text(resource, "host.name")
    anonymous = not sid
    if anonymous:
        # No session id anywhere: one agent per emitting service and person or machine.
        sid = f"otlp:{service or 'unknown'}:{who or 'anonymous'}"[:200]
    metadata: dict[str, Any] = {k: resource[k] for k in KEPT if resource.get(k) not in (None, "")}
    for k in ("user.email", "terminal.type", "organization.id"):
        if k not in metadata and a.get(k) not in (None, ""):
            metadata[k] = a[k]
    labels = {k: v for k, v in resource.items()
              if not k.startswith(CONVENTION_PREFIXES) and isinstance(v, str | int | float)}
    meta: dict[str, Any] = {"otel": metadata}
    if labels:
        meta["labels"] = {k: str(v)[:100] for k, v in list(labels.items())[:20]}
    label = {"claude-code": "Claude Code", "codex": "Codex", "gemini-cli": "Gemini CLI",
             "copilot": "Copilot", "opencode": "OpenCode"}.get(kind, service or "agent")
    name = f"{label} #{sid[:6]}" + (f" ({who})" if who else "")
    model = text(a, "gen_ai.response.model", "gen_ai.request.model", "model", limit=150)
    return Session(external_id=sid, kind=kind, name=name[:150], model=model, metadata=meta,
                   anonymous=anonymous)


# --- logs -------------------------------------------------------------------------------------
def _claude_code_log(name: str, a: dict[str, Any], ts: datetime, s: Session, f: Facts,
                     record_key: str) -> None:
    if name == "api_request":
        key = text(a, "request_id", limit=200) or f"otlp:{record_key}"
        f.usage.append(Usage(
            session=s, key=key, model=text(a, "model", limit=150), ts=ts,
            cost_usd=dollars(a, "cost_usd"),
            tokens={"tokens_input": count(a, "input_tokens"),
                    "tokens_output": count(a, "output_tokens"),
                    "tokens_cache_read": count(a, "cache_read_tokens"),
                    "tokens_cache_write": count(a, "cache_creation_tokens"),
                    "tokens_reasoning": 0}))
        f.activity.append(Activity(s, ts))
    elif name == "tool_result":
        ok = truth(a.get("success"))
        decision = text(a, "decision").lower()
        outcome = "ok" if ok else ("denied" if decision == "reject" else "error")
        f.tool_calls.append(ToolCall(
            session=s, span_id=text(a, "tool_use_id", limit=200) or f"otlp:{record_key}",
            tool_name=text(a, "tool_name", limit=200), finished_at=ts,
            latency_ms=millis(a, "duration_ms"), outcome=outcome,
            error=text(a, "error", limit=2000) if not ok else ""))
    elif name == "api_error":
        message = text(a, "error", limit=500) or "API error"
        status = text(a, "status_code")
        f.errors.append(Error(s, f"{message} (HTTP {status})" if status else message, ts,
                              text(a, "request_id", limit=150) or record_key))
    elif name == "tool_decision" and text(a, "decision").lower() == "reject":
        f.tool_calls.append(ToolCall(
            session=s, span_id=text(a, "tool_use_id", limit=200) or f"otlp:{record_key}",
            tool_name=text(a, "tool_name", limit=200), finished_at=ts, latency_ms=0,
            outcome="denied", error="denied by the user"))
    elif name in ("user_prompt", "assistant_response"):
        f.activity.append(Activity(s, ts))


def _codex_log(name: str, a: dict[str, Any], ts: datetime, s: Session, f: Facts,
               record_key: str) -> None:
    if name in ("sse_event", "websocket_event", "response_completed"):
        if text(a, "event.kind") not in ("response.completed", ""):
            return
        if a.get("input_token_count") is None and a.get("output_token_count") is None:
            return
        cached = count(a, "cached_token_count")
        reasoning = count(a, "reasoning_token_count")
        f.usage.append(Usage(
            session=s, key=text(a, "response.id", "response_id", limit=200)
            or f"otlp:{record_key}", model=text(a, "model", "slug", limit=150), ts=ts,
            tokens={"tokens_input": max(count(a, "input_token_count") - cached, 0),
                    # Codex counts reasoning inside output_tokens, as OpenAI's usage does.
                    "tokens_output": max(count(a, "output_token_count") - reasoning, 0),
                    "tokens_cache_read": cached,
                    "tokens_cache_write": count(a, "cache_write_token_count"),
                    "tokens_reasoning": reasoning}))
        f.activity.append(Activity(s, ts))
    elif name == "tool_result":
        ok = truth(a.get("success"))
        error = "" if ok else text(a, "output", "error", limit=2000)
        # A command that ran and exited non-zero is a successful tool call to Codex; its exit
        # code is only in the output ("Process exited with code 3"). The hooks call it an error.
        exited = EXIT_CODE.search(text(a, "output", limit=4000))
        if ok and exited and exited.group(1) != "0":
            ok, error = False, f"exit code {exited.group(1)}"
        f.tool_calls.append(ToolCall(
            session=s, span_id=text(a, "call_id", "tool_call_id", limit=200)
            or f"otlp:{record_key}", tool_name=text(a, "tool_name", "tool", limit=200),
            finished_at=ts, latency_ms=millis(a, "duration_ms"), outcome="ok" if ok else "error",
            error=error))
    elif name == "api_request":
        status = number(a, "http.response.status_code")
        problem = text(a, "error.message", "error", limit=500)
        if problem or (status is not None and status >= 400):
            f.errors.append(Error(s, problem or f"API request failed (HTTP {status:g})", ts,
                                  record_key))
        else:
            f.activity.append(Activity(s, ts))
    elif name in ("conversation_starts", "user_prompt", "tool_decision"):
        f.activity.append(Activity(s, ts))


EXIT_CODE = re.compile(r"^Process exited with code (-?\d+)$", re.MULTILINE)


def _gemini_log(name: str, a: dict[str, Any], ts: datetime, s: Session, f: Facts,
                record_key: str) -> None:
    if name == "api_response":
        cached = count(a, "cached_content_token_count")
        f.usage.append(Usage(
            session=s, key=text(a, "response_id", "gen_ai.response.id", limit=200)
            or f"otlp:{record_key}", model=text(a, "model", limit=150), ts=ts,
            tokens={"tokens_input": max(count(a, "input_token_count") - cached, 0),
                    "tokens_output": count(a, "output_token_count"),
                    "tokens_cache_read": cached, "tokens_cache_write": 0,
                    "tokens_reasoning": count(a, "thoughts_token_count")}))
        f.activity.append(Activity(s, ts))
    elif name == "tool_call":
        ok = truth(a.get("success"))
        decision = text(a, "decision").lower()
        error = "" if ok else text(a, "error", limit=2000)
        # A shell command that ran and exited non-zero is a success to Gemini CLI; the exit code
        # is in `metadata` ({"exitCode": 3, "isError": true}).
        code = _json_object(a.get("metadata")).get("exitCode")
        if ok and isinstance(code, int) and code != 0:
            ok, error = False, f"exit code {code}"
        f.tool_calls.append(ToolCall(
            session=s, span_id=text(a, "tool_call_id", "call_id", "callId", limit=200)
            or f"otlp:{record_key}", tool_name=text(a, "function_name", "tool_name", limit=200),
            finished_at=ts, latency_ms=millis(a, "duration_ms"),
            outcome="ok" if ok else ("denied" if decision in ("reject", "cancel") else "error"),
            error=error))
    elif name == "api_error":
        f.errors.append(Error(s, text(a, "error", "error_type", limit=500) or "API error", ts,
                              record_key))
    elif name in ("user_prompt", "api_request"):
        f.activity.append(Activity(s, ts))


def _json_object(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    try:
        parsed = json.loads(v) if isinstance(v, str) and v.startswith("{") else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _genai_log(name: str, a: dict[str, Any], ts: datetime, s: Session, f: Facts,
               record_key: str) -> None:
    """GenAI events (`gen_ai.client.inference.operation.details` and the like) carrying usage
    or a tool call in gen_ai.* attributes."""
    _genai_usage(a, ts, s, f, record_key)
    if text(a, "gen_ai.tool.call.id") and text(a, "gen_ai.operation.name") == "execute_tool":
        f.tool_calls.append(ToolCall(
            session=s, span_id=text(a, "gen_ai.tool.call.id", limit=200),
            tool_name=text(a, "gen_ai.tool.name", limit=200), finished_at=ts,
            latency_ms=millis(a, "duration_ms"),
            outcome="error" if text(a, "error.type") else "ok", error=text(a, "error.type")))


# Emitters that repeat each of their own events as a GenAI event (Gemini CLI follows every
# gemini_cli.api_response with a gen_ai.client.inference.operation.details of the same call,
# without its cache and thinking figures): the GenAI copy is dropped, the call counted once.
GENAI_COPIES = {"gemini-cli"}

LOG_MAPPERS: dict[str, Callable[..., None]] = {
    "claude_code": _claude_code_log,
    "codex": _codex_log,
    "gemini_cli": _gemini_log,
}


def _event_name(record: Any, a: dict[str, Any]) -> str:
    """The event's full name. Emitters put it in different places: the LogRecord's
    event_name field, an `event.name` attribute (Claude Code's lacks the `claude_code.`
    prefix, which is in the body), or the body alone."""
    body = record.body.string_value[:100] if record.body.WhichOneof("value") == "string_value" \
        else ""
    names = [n for n in (getattr(record, "event_name", ""), text(a, "event.name"), body) if n]
    for name in names:
        if name.split(".", 1)[0] in LOG_MAPPERS:
            return name
    return names[0] if names else ""


def _each(groups: Any, scopes: str, items: str) -> Iterable[tuple[dict[str, Any], Any]]:
    """(resource attributes, item) for every log record, span or metric of a request."""
    for group in groups:
        resource = attributes(group.resource.attributes)
        for scope in getattr(group, scopes):
            for item in getattr(scope, items):
                yield resource, item


def _map_log(record: Any, resource: dict[str, Any], facts: Facts) -> None:
    a = attributes(record.attributes)
    name = _event_name(record, a)
    prefix, _, short = name.partition(".")
    mapper = LOG_MAPPERS.get(prefix)
    session = session_for(resource, a)
    if mapper is None:
        if session.kind in GENAI_COPIES:
            return
        mapper, short = _genai_log, name
    ts = moment(record.time_unix_nano, record.observed_time_unix_nano)
    try:
        mapper(short, a, ts, session, facts,
               digest(name, record.time_unix_nano, text(a, "event.sequence"),
                      record.SerializeToString(deterministic=True)))
    except Bad as exc:
        facts.reject(f"{name or 'log record'}: {exc}")


def map_logs(request: Any) -> Facts:
    facts = Facts()
    for resource, record in _each(request.resource_logs, "scope_logs", "log_records"):
        _map_log(record, resource, facts)
    return facts


# --- traces -----------------------------------------------------------------------------------
def _genai_usage(a: dict[str, Any], ts: datetime, s: Session, f: Facts, fallback: str) -> bool:
    if a.get("gen_ai.usage.input_tokens") is None and a.get("gen_ai.usage.output_tokens") is None \
            and a.get("ai.usage.promptTokens") is None:
        return False
    cache_read = count(a, "gen_ai.usage.cache_read.input_tokens",
                       "gen_ai.usage.cache_read_input_tokens")
    cache_write = count(a, "gen_ai.usage.cache_write.input_tokens",
                        "gen_ai.usage.cache_creation.input_tokens",
                        "gen_ai.usage.cache_creation_input_tokens")
    reasoning = count(a, "gen_ai.usage.reasoning.output_tokens",
                      "gen_ai.usage.reasoning_tokens", "ai.usage.reasoningTokens")
    total_in = count(a, "gen_ai.usage.input_tokens", "ai.usage.promptTokens",
                     "ai.usage.inputTokens")
    total_out = count(a, "gen_ai.usage.output_tokens", "ai.usage.completionTokens",
                      "ai.usage.outputTokens")
    f.usage.append(Usage(
        session=s, key=text(a, "gen_ai.response.id", "request_id", limit=200) or fallback,
        model=text(a, "gen_ai.response.model", "gen_ai.request.model", "model", limit=150),
        ts=ts, cost_usd=dollars(a, "cost_usd", "gen_ai.usage.cost"),
        # The conventions count cached tokens inside input_tokens: Switchboard counts fresh
        # input apart (its prices differ), and reasoning apart from output.
        tokens={"tokens_input": max(total_in - cache_read - cache_write, 0),
                "tokens_output": max(total_out - reasoning, 0), "tokens_cache_read": cache_read,
                "tokens_cache_write": cache_write, "tokens_reasoning": reasoning}))
    f.activity.append(Activity(s, ts))
    return True


def _span_outcome(span: Any, a: dict[str, Any]) -> tuple[str, str]:
    failed = span.status.code == 2 or (a.get("success") is not None and not truth(a["success"]))
    if not failed:
        return "ok", ""
    return "error", (span.status.message or text(a, "error.type", "error", limit=2000)
                     or "failed")


def map_traces(request: Any) -> Facts:
    facts = Facts()
    for resource, span in _each(request.resource_spans, "scope_spans", "spans"):
        try:
            _map_span(span, attributes(span.attributes), resource, facts)
        except Bad as exc:
            facts.reject(f"{span.name or 'span'}: {exc}")
    return facts


def _map_span(span: Any, a: dict[str, Any], resource: dict[str, Any], f: Facts) -> None:
    s = session_for(resource, a)
    if s.kind == "codex":
        # Codex traces its own Rust code (fs.read_file, handle_responses, ...): what Switchboard
        # keeps is in its log events, with the conversation id; the one span with usage
        # (handle_responses) has none and repeats the sse_event's figures.
        return
    started = moment(span.start_time_unix_nano)
    finished = moment(span.end_time_unix_nano, span.start_time_unix_nano)
    if span.end_time_unix_nano and span.start_time_unix_nano:
        elapsed = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
        if elapsed < 0 or elapsed > MAX_MS:
            raise Bad("end before start or longer than a week")
        latency = int(round(elapsed))
    else:
        latency = millis(a, "duration_ms")
    operation = text(a, "gen_ai.operation.name")
    key = span.span_id.hex()
    if span.name in ("claude_code.tool.execution", "claude_code.tool.blocked_on_user"):
        return  # children of claude_code.tool, which carries the whole call
    tool_id = text(a, "gen_ai.tool.call.id", "tool_use_id", "ai.toolCall.id", limit=200)
    tool_name = text(a, "gen_ai.tool.name", "tool_name", "ai.toolCall.name", limit=200)
    if operation == "execute_tool" or span.name.startswith("ai.toolCall") or (
            tool_id and tool_name):
        outcome, error = _span_outcome(span, a)
        f.tool_calls.append(ToolCall(
            session=s, span_id=tool_id or key, tool_name=tool_name, started_at=started,
            finished_at=finished, latency_ms=latency, outcome=outcome, error=error))
        return
    if span.name == "claude_code.llm_request":
        _claude_code_log("api_request", a, finished, s, f, key)
        return
    if _genai_usage(a, finished, s, f, key):
        return
    if operation in ("invoke_agent", "create_agent") or span.name == "claude_code.interaction":
        f.activity.append(Activity(s, finished))


# --- metrics ----------------------------------------------------------------------------------
CUMULATIVE = 2
# Emitters whose metrics say nothing of the session (Codex's are the process's: no
# conversation.id) while their logs do: such points are dropped, not given an agent of their own.
PROCESS_WIDE = {"codex"}


def map_metrics(request: Any) -> Facts:
    facts = Facts()
    for resource, metric in _each(request.resource_metrics, "scope_metrics", "metrics"):
        data = metric.WhichOneof("data")
        if data not in ("sum", "histogram"):
            continue  # gauges and summaries: nothing Switchboard counts
        body = getattr(metric, data)
        cumulative = body.aggregation_temporality == CUMULATIVE
        for point in body.data_points:
            a = attributes(point.attributes)
            session = session_for(resource, a)
            if session.anonymous and session.kind in PROCESS_WIDE:
                continue
            if data == "sum":
                amount = point.as_double if point.WhichOneof("value") == "as_double" \
                    else float(point.as_int)
                n = None
            else:
                amount, n = point.sum, point.count
            if not math.isfinite(amount) or amount < 0 and (data == "histogram"
                                                            or body.is_monotonic):
                facts.reject(f"{metric.name}: {amount:g} is not a valid counter value")
                continue
            facts.points.append(Point(
                session=session, name=metric.name[:200], unit=metric.unit[:30],
                value=amount, count=n, cumulative=cumulative,
                attributes={k: v for k, v in a.items() if k not in IDENTITY},
                start_ns=point.start_time_unix_nano, time_ns=point.time_unix_nano))
    return facts


# Attributes that say who, not what: not part of a counter's series.
IDENTITY = {"session.id", "conversation.id", "gen_ai.conversation.id", "user.id",
            "user.email", "user.account_uuid", "organization.id", "terminal.type",
            "anthropic.provider", "anthropic.custom_base_url", "app.version"}


MAPPERS = {"logs": map_logs, "traces": map_traces, "metrics": map_metrics}
