"""POST /events: a batch of up to 1,000 events from hooks and clients.

Plain events (any dotted type the server does not interpret, e.g. `hook.notification`) are
validated by hand and bulk-inserted in one statement; interpreted types (agent.register,
agent.heartbeat, agent.status, agent.error, span.start/finish, usage, task.completed) go through
the services one by one, each in its own savepoint. Idempotency keys live on the unique
AgentEvent(project, idempotency_key): a replayed key changes nothing and answers with the
event id of the first delivery."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.utils import timezone

from apps.agents import services
from apps.agents.models import Agent, AgentEvent, AgentKind, AgentStatus, AgentTask
from apps.agents.serializers import command_json
from apps.core.events import publish_bulk, record_event
from apps.core.text import bad_text
from apps.core.times import in_window
from apps.projects.models import Project

MAX_BATCH = 1000
TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$|^usage$")
# Span events write their key in the event's INSERT (inside the event's savepoint): a repeat
# fails there, rolls its effects back and is answered "duplicate", so no lookup beforehand.
KEYED_IN_INSERT = {"span.start", "span.finish"}
INTERPRETED = {"agent.register", "agent.heartbeat", "agent.status", "agent.error", "span.start",
               "span.finish", "usage", "task.completed", "command.ack"}
# Kinds the engine itself writes: a client may not forge them as plain events.
RESERVED = ("agent.", "task.", "span.", "command.", "workflow.", "linear.", "alert.", "bench.")


@dataclass
class Item:
    index: int
    type: str = ""
    agent_ref: tuple[str, Any] | None = None
    ts: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    result: dict[str, Any] | None = None


def _parse_ts(value: Any) -> datetime:
    """A time within [2000-01-01, now + 1 day], in UTC. A time that is valid ISO 8601 but
    outside Python's range once converted (9999-12-31T23:30-01:00) raises OverflowError; once
    stored it would break every reader."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(value, tz=UTC)
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    else:
        raise ValueError
    if not in_window(parsed):
        raise ValueError
    return parsed


def _validate(index: int, raw: Any, check_text: bool = True) -> Item:
    item = Item(index)
    if not isinstance(raw, dict):
        item.result = _error(index, "Each event must be an object.")
        return item
    kind = raw.get("type")
    if not isinstance(kind, str) or not TYPE_RE.match(kind) or len(kind) > 64:
        item.result = _error(index, "type: a dotted lowercase name is required, e.g. hook.stop.")
        return item
    if kind not in INTERPRETED and kind.startswith(RESERVED):
        item.result = _error(index, f"type: {kind!r} is reserved for the server.")
        return item
    item.type = kind
    if raw.get("agent") is not None:
        if not isinstance(raw["agent"], int) or isinstance(raw["agent"], bool):
            item.result = _error(index, "agent: must be an agent id (integer).")
            return item
        item.agent_ref = ("id", raw["agent"])
    elif raw.get("agent_external_id"):
        if not isinstance(raw["agent_external_id"], str):
            item.result = _error(index, "agent_external_id: must be a string.")
            return item
        item.agent_ref = ("ext", raw["agent_external_id"])
    if kind == "agent.register" and item.agent_ref is None:
        ext = (raw.get("data") or {}).get("external_id") if isinstance(raw.get("data"), dict) else None
        item.agent_ref = ("ext", ext) if ext else None
    if item.agent_ref is None and kind != "agent.register":
        item.result = _error(index, "agent: agent or agent_external_id is required.")
        return item
    data = raw.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        item.result = _error(index, "data: must be an object.")
        return item
    bad = check_text and (bad_text(data) or (bad_text(item.agent_ref[1]) if item.agent_ref
                                              else ""))
    if bad:
        item.result = _error(index, f"data: {bad}.")
        return item
    item.data = data
    if raw.get("ts") is not None:
        try:
            item.ts = _parse_ts(raw["ts"])
        except (ValueError, TypeError, OverflowError, OSError):
            item.result = _error(index, "ts: must be an ISO 8601 time or a Unix timestamp, "
                                        "from 2000 to a day from now.")
            return item
    key = raw.get("idempotency_key")
    if key is not None:
        if not isinstance(key, str) or not key or len(key) > 200:
            item.result = _error(index, "idempotency_key: a string of 1 to 200 characters.")
            return item
        item.key = key
    return item


def _error(index: int, message: str) -> dict[str, Any]:
    return {"index": index, "status": "error", "error": message}


_PG_INSERT = """
INSERT INTO agents_agentevent
    (project_id, agent_id, task_id, kind, data, actor_id, actor_label, idempotency_key, ts,
     created_at)
SELECT %s, x.a, NULL, x.k, COALESCE(x.d, '{}'::jsonb), NULL, %s, x.i, x.t, %s
FROM jsonb_to_recordset(%s::jsonb) AS x(n int, a bigint, k text, d jsonb, i text, t timestamptz)
ORDER BY x.n
ON CONFLICT (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, idempotency_key
"""


class Batch:
    def __init__(self, project: Project, actor_label: str) -> None:
        from django.db import connection

        self.fast_insert = connection.vendor == "postgresql"
        self.project = project
        self.actor_label = actor_label
        self.now = timezone.now()
        self.by_id: dict[int, Agent] = {}
        self.by_ext: dict[str, Agent] = {}
        self.touched: dict[int, Agent] = {}
        self.reporting: dict[int, Agent] = {}  # every agent an event of the batch was for

    # --- agents ---------------------------------------------------------------------------
    def load_agents(self, items: list[Item]) -> None:
        ids = {i.agent_ref[1] for i in items if i.agent_ref and i.agent_ref[0] == "id"}
        exts = {i.agent_ref[1] for i in items if i.agent_ref and i.agent_ref[0] == "ext"}
        if not ids and not exts:
            return
        from django.db.models import Q

        query = Q(pk__in=ids) | Q(external_id__in=exts) if exts else Q(pk__in=ids)
        for agent in Agent.objects.filter(query, project=self.project).order_by():  # no ORDER BY
            self._remember(agent)

    def _remember(self, agent: Agent) -> None:
        self.by_id[agent.pk] = agent
        if agent.external_id:
            self.by_ext[agent.external_id] = agent

    def agent_for(self, item: Item) -> Agent | None:
        if item.agent_ref is None:
            return None
        kind, value = item.agent_ref
        agent = self.by_id.get(value) if kind == "id" else self.by_ext.get(value)
        if agent is not None:
            self.reporting[agent.pk] = agent
        return agent

    # --- the batch ------------------------------------------------------------------------
    def run(self, raw_events: list[Any], *, deliver_commands: bool = True) -> dict[str, Any]:
        # One check of the whole batch; each event is checked only when something is wrong.
        check_text = bool(bad_text(raw_events))
        items = [_validate(i, raw, check_text) for i, raw in enumerate(raw_events)]
        self._mark_duplicates(items)
        live = [i for i in items if i.result is None]
        self.load_agents(live)
        for item in live:
            if item.type in INTERPRETED:
                self._interpret(item)
        self._insert_plain([i for i in live if i.result is None])
        self._resolve_in_batch_duplicates(items)
        self._touch_agents()
        results = [i.result for i in items]
        return {
            "accepted": sum(1 for r in results if r["status"] == "created"),
            "duplicates": sum(1 for r in results if r["status"] == "duplicate"),
            "results": results,
            "commands": self._deliver_commands() if deliver_commands else [],
        }

    def _deliver_commands(self) -> list[dict[str, Any]]:
        """Hook clients never call the heartbeat endpoint: the answer to their batch carries the
        commands not yet acked for every agent the batch reported on (a query only when some
        agent has commands waiting)."""
        agents = {a.pk: a for a in self.reporting.values() if a.pending_commands}
        if not agents:
            return []
        commands = services.commands_deliver(agent_ids=list(agents), now=self.now,
                                             actor_label=self.actor_label)
        return [{**command_json(c), "agent_id": c.agent_id,
                 "agent_external_id": agents[c.agent_id].external_id} for c in commands]

    def _mark_duplicates(self, items: list[Item]) -> None:
        """Keys seen earlier in this batch, then keys already stored. On PostgreSQL plain events
        skip the lookup: their INSERT … ON CONFLICT DO NOTHING tells which keys were known."""
        seen: set[str] = set()
        for item in items:
            if item.result is not None or not item.key:
                continue
            if item.key in seen:
                item.result = {"index": item.index, "status": "duplicate", "event_id": None}
            seen.add(item.key)
        check = {i.key for i in items if i.key and i.result is None
                 and i.type not in KEYED_IN_INSERT
                 and (i.type in INTERPRETED or not self.fast_insert)}
        if not check:
            return
        existing = dict(
            AgentEvent.objects.filter(project=self.project, idempotency_key__in=check)
            .values_list("idempotency_key", "id")
        )
        for item in items:
            if item.result is None and item.key in existing:
                item.result = {"index": item.index, "status": "duplicate",
                               "event_id": existing[item.key]}

    def _resolve_in_batch_duplicates(self, items: list[Item]) -> None:
        first: dict[str, Any] = {}
        for item in items:
            if item.key and item.result and item.result["status"] == "created":
                first.setdefault(item.key, item.result.get("event_id"))
        for item in items:
            if item.result and item.result["status"] == "duplicate" and item.result["event_id"] is None:
                item.result["event_id"] = first.get(item.key)

    def _insert_plain(self, items: list[Item]) -> None:
        kept: list[tuple[Item, Agent]] = []
        for item in items:
            agent = self.agent_for(item)
            if agent is None:
                item.result = _error(item.index, "agent: unknown agent in this project.")
                continue
            self.touched[agent.pk] = agent
            kept.append((item, agent))
        if not kept:
            return
        if self.fast_insert:
            try:
                with transaction.atomic():
                    self._insert_postgres(kept)
                return
            except DatabaseError:  # e.g. jsonb refuses a \u0000: sort it out row by row
                pass
        rows = [AgentEvent(project=self.project, agent=agent, kind=item.type, data=item.data,
                           actor_label=self.actor_label, idempotency_key=item.key,
                           ts=item.ts or self.now) for item, agent in kept]
        try:
            with transaction.atomic():
                AgentEvent.objects.bulk_create(rows, batch_size=1000)
        except DatabaseError:
            # A concurrent delivery of the same keys, or a value the database refuses.
            for row in rows:
                row.pk = None
            self._insert_one_by_one(rows, [item for item, _ in kept])
            return
        for (item, _), row in zip(kept, rows, strict=True):
            item.result = {"index": item.index, "status": "created", "event_id": row.pk}
        publish_bulk(self.project.pk, [(row.pk, row.kind, row.agent_id) for row in rows])

    def _insert_postgres(self, kept: list[tuple[Item, Agent]]) -> None:
        """One INSERT … SELECT FROM jsonb_to_recordset: the batch travels as one JSON parameter
        (no model instances, no per-value adaptation) and known keys are skipped by the unique
        index. Ids come from the sequence in row order, so sorted ids follow the input."""
        from django.db import connection

        now = self.now.isoformat()
        payload = json.dumps([
            {"n": n, "a": agent.pk, "k": item.type, "d": item.data, "i": item.key,
             "t": item.ts.isoformat() if item.ts else now}
            for n, (item, agent) in enumerate(kept)
        ])
        with connection.cursor() as cursor:
            cursor.execute(_PG_INSERT, [self.project.pk, self.actor_label, self.now, payload])
            returned = cursor.fetchall()
        ids = sorted(r[0] for r in returned)
        inserted_keys = {r[1] for r in returned if r[1] is not None}
        known = [i.key for i, _ in kept if i.key and i.key not in inserted_keys]
        existing = dict(
            AgentEvent.objects.filter(project=self.project, idempotency_key__in=known)
            .values_list("idempotency_key", "id")
        ) if known else {}
        position = 0
        created = []
        for item, agent in kept:
            if item.key and item.key not in inserted_keys:
                item.result = {"index": item.index, "status": "duplicate",
                               "event_id": existing.get(item.key)}
                continue
            event_id = ids[position]
            position += 1
            created.append((event_id, item.type, agent.pk))
            item.result = {"index": item.index, "status": "created", "event_id": event_id}
        publish_bulk(self.project.pk, created)

    def _insert_one_by_one(self, rows: list[AgentEvent], items: list[Item]) -> None:
        created = []
        for item, row in zip(items, rows, strict=True):
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
            except DataError:
                item.result = _error(item.index, "data: cannot be stored (e.g. a NUL character).")
                continue
            except IntegrityError:
                existing = AgentEvent.objects.filter(project=self.project,
                                                     idempotency_key=item.key).first()
                item.result = {"index": item.index, "status": "duplicate",
                               "event_id": existing.pk if existing else None}
                continue
            created.append((row.pk, row.kind, row.agent_id))
            item.result = {"index": item.index, "status": "created", "event_id": row.pk}
        publish_bulk(self.project.pk, created)

    def _touch_agents(self) -> None:
        """Every reported event is a sign of life for its agent (an archived one is back)."""
        revived = [a for a in self.reporting.values() if a.archived_at is not None]
        if revived:
            Agent.objects.filter(pk__in=[a.pk for a in revived]).update(archived_at=None)
            for agent in revived:
                agent.archived_at = None
        plain = [a.pk for a in self.touched.values() if services.heartbeat_is_plain(a)]
        if plain:
            Agent.objects.filter(pk__in=plain).update(last_heartbeat_at=self.now)
        for agent in self.touched.values():
            if agent.pk not in plain:
                services.agent_heartbeat(agent=agent, now=self.now, deliver=False,
                                         actor_label=self.actor_label)

    # --- interpreted types ---------------------------------------------------------------
    def _interpret(self, item: Item) -> None:
        try:
            with transaction.atomic():
                event = self._apply(item)
                if item.key:
                    if event is None:
                        event = AgentEvent.objects.create(
                            project=self.project, agent=self.agent_for(item),
                            kind=item.type, data=item.data, actor_label=self.actor_label,
                            ts=item.ts or self.now)
                    if event.idempotency_key != item.key:
                        AgentEvent.objects.filter(pk=event.pk).update(idempotency_key=item.key)
        except ValidationError as exc:
            item.result = _error(item.index, _message(exc))
            return
        except IntegrityError:
            existing = AgentEvent.objects.filter(project=self.project,
                                                 idempotency_key=item.key).first()
            item.result = {"index": item.index, "status": "duplicate",
                           "event_id": existing.pk if existing else None}
            return
        item.result = {"index": item.index, "status": "created",
                       "event_id": event.pk if event is not None else None}

    def _apply(self, item: Item) -> AgentEvent | None:
        data = item.data
        if item.type == "agent.register":
            return self._register(item)
        agent = self.agent_for(item)
        if agent is None:
            raise ValidationError({"agent": ["unknown agent in this project."]})
        if item.type == "agent.heartbeat":
            services.agent_heartbeat(agent=agent, message=_str(data.get("message")),
                                     deliver=False, actor_label=self.actor_label, now=self.now)
            return None
        if item.type == "agent.status":
            status = data.get("status")
            if status not in AgentStatus.values:
                raise ValidationError({"data.status": [f"one of {', '.join(AgentStatus.values)}."]})
            if services.command_holds_status(agent, status):
                return None  # stored as a report; the control room's stop or sleep stands
            services.agent_set_status(agent=agent, status=status,
                                      reason=_str(data.get("reason"))[:300],
                                      actor_label=self.actor_label, now=self.now)
            self._reload(agent)
            return None
        if item.type == "agent.error":
            event = services.agent_error(agent=agent, message=_str(data.get("message")) or "error",
                                         data=data, actor_label=self.actor_label, now=self.now,
                                         ts=item.ts)
            self._reload(agent)
            return event
        if item.type in ("span.start", "span.finish"):
            from apps.agents.serializers import SpanInSerializer

            payload = {**data, "agent": agent.pk, "phase": item.type.split(".")[1]}
            serializer = SpanInSerializer(data=payload)
            if not serializer.is_valid():
                raise ValidationError({f"data.{k}": v for k, v in serializer.errors.items()})
            fields = dict(serializer.validated_data)
            fields.pop("agent", None)
            _, event = services.span_record(agent=agent, now=self.now,
                                            actor_label=self.actor_label,
                                            idempotency_key=item.key or "", **fields)
            return event
        if item.type == "usage":
            return self._usage(item, agent)
        if item.type == "command.ack":
            from apps.agents.models import AgentCommand

            command = AgentCommand.objects.filter(pk=data.get("command_id"), agent=agent).first() \
                if isinstance(data.get("command_id"), int) else None
            if command is None:
                raise ValidationError({"data.command_id": ["no such command for this agent."]})
            result = data.get("result")
            services.command_ack(command=command, result=result if isinstance(result, dict) else {},
                                 actor_label=self.actor_label, now=self.now)
            self._reload(agent)
            return None
        if item.type == "task.completed":
            task_id = data.get("task_id") or agent.current_task_id
            task = AgentTask.objects.filter(pk=task_id, agent=agent).first() if task_id else None
            if task is None:
                raise ValidationError({"data.task_id": ["no such task for this agent."]})
            services.task_complete(task=task, result=_str(data.get("result")),
                                   actor_label=self.actor_label, now=self.now)
            self._reload(agent)
            return AgentEvent.objects.filter(task=task, kind="task.completed").order_by("-id").first()
        raise ValidationError({"type": ["not handled."]})

    def _usage(self, item: Item, agent: Agent) -> AgentEvent:
        """The `agent.usage` event (the feed and alerts read it) and the TokenUsage row, stored
        once per natural key: the client's `key` (its API message id), else this event's
        idempotency key, else the event itself (an old-style report of new tokens)."""
        from apps.telemetry.services import usage_record

        data = item.data
        usage: dict[str, Any] = {}
        for name in services.TOKEN_FIELDS:
            value = data.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValidationError({f"data.{name}": ["a non-negative integer."]})
            usage[name] = value
        tokens = dict(usage)
        if data.get("model"):
            usage["model"] = _str(data["model"])[:150]
        key = data.get("key")
        if key is not None and (not isinstance(key, str) or not key.strip() or len(key) > 200):
            raise ValidationError({"data.key": ["a string of 1 to 200 characters."]})
        turn = data.get("turn")
        if turn is not None and (not isinstance(turn, int) or isinstance(turn, bool)
                                 or not 0 <= turn < 2**31):
            raise ValidationError({"data.turn": ["a non-negative integer."]})
        cost = _cost(data.get("cost_usd"))
        usage.update({k: v for k, v in (("key", key), ("turn", turn)) if v is not None})
        if cost is not None:
            usage["cost_usd"] = data["cost_usd"]
        ts = item.ts or self.now
        event = record_event("agent.usage", project=self.project, agent=agent,
                             task=AgentTask(pk=agent.current_task_id) if agent.current_task_id else None,
                             actor_label=self.actor_label, data=usage, ts=ts)
        natural = key or (f"event:{item.key}" if item.key else f"event:{event.pk}")
        try:
            usage_record(agent=agent, key=natural, tokens=tokens, model=usage.get("model", ""),
                         turn=turn or 0, cost_usd=cost, ts=ts)
        except ValidationError as exc:
            raise ValidationError({f"data.{k}": v for k, v in exc.message_dict.items()}) from None
        return event

    def _register(self, item: Item) -> AgentEvent | None:
        from apps.agents.serializers import AgentRegisterSerializer

        serializer = AgentRegisterSerializer(data=item.data, context={"project": self.project})
        if not serializer.is_valid():
            raise ValidationError({f"data.{k}": v for k, v in serializer.errors.items()})
        values = dict(serializer.validated_data)
        agent, created = services.agent_register(project=self.project, now=self.now,
                                                 actor_label=self.actor_label, **values)
        self._remember(agent)
        if created:
            return AgentEvent.objects.filter(agent=agent, kind="agent.registered").first()
        return None

    def _reload(self, agent: Agent) -> None:
        agent.refresh_from_db()
        self._remember(agent)


def _cost(value: Any) -> Decimal | None:
    """A client's own cost in USD (OpenCode reports one), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError({"data.cost_usd": ["a non-negative number of US dollars."]})
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({"data.cost_usd": ["a non-negative number of US dollars."]}) from None
    if not cost.is_finite() or cost < 0:
        raise ValidationError({"data.cost_usd": ["a non-negative number of US dollars."]})
    return cost


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        for key, messages in exc.message_dict.items():
            return f"{key}: {messages[0]}"
    return exc.messages[0] if exc.messages else "invalid"


@transaction.atomic
def events_ingest(*, project: Project, events: list[Any], actor_label: str = "",
                  deliver_commands: bool = True) -> dict[str, Any]:
    """`deliver_commands=False` (a keep-alive that cannot act on commands) leaves them waiting
    for the agent's next hook."""
    return Batch(project, actor_label).run(events, deliver_commands=deliver_commands)


__all__ = ["MAX_BATCH", "events_ingest", "AgentKind"]
