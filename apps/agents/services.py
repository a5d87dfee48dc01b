"""Writes on agents, tasks, commands and spans. Keyword-only, `@transaction.atomic`; each locks
the agent row first so concurrent reports serialise, and records its events through
record_event (publishing and reactors run after commit). `now` is injectable for tests."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

from apps.agents import lifecycle
from apps.agents.lifecycle import project_of
from apps.agents.models import (
    FINISHED_STATUSES,
    Agent,
    AgentCommand,
    AgentEvent,
    AgentKind,
    AgentStatus,
    AgentTask,
    CommandAction,
    CommandStatus,
    LifecyclePolicy,
    TaskStatus,
)
from apps.core.audit import audit_record
from apps.core.db import hot_writer, prepared_cursor
from apps.core.events import bump_version, record_event
from apps.projects.models import Project

ACTIONS = (CommandAction.SLEEP, CommandAction.WAKE, CommandAction.STOP, CommandAction.UNBLOCK,
           CommandAction.RESTART)
OPEN_TASK = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED)


def _lock(agent: Agent) -> Agent:
    return Agent.objects.select_for_update().get(pk=agent.pk)


def _actor_label(actor: Any, label: str) -> str:
    if label:
        return label
    return actor.get_username() if getattr(actor, "is_authenticated", False) else ""


# --- agents -------------------------------------------------------------------------------
@transaction.atomic
def agent_register(
    *,
    project: Project,
    name: str,
    kind: str = AgentKind.CUSTOM,
    model: str = "",
    external_id: str = "",
    parent: Agent | None = None,
    metadata: dict[str, Any] | None = None,
    label: str = "",
    owner: Any = None,
    actor_label: str = "",
    now: datetime | None = None,
) -> tuple[Agent, bool]:
    """Idempotent on project + external_id: a re-register updates name, model, metadata and
    label (when it sends one). A new agent's owner is `owner`, else whoever issued the key
    named in `actor_label` ("key:<prefix>")."""
    now = now or timezone.now()
    if parent is not None and parent.project_id != project.pk:
        raise ValidationError({"parent": ["The parent agent belongs to another project."]})
    existing = None
    if external_id:
        existing = Agent.objects.select_for_update().filter(
            project=project, external_id=external_id
        ).first()
    if existing is None:
        agent = Agent(project=project, name=name, kind=kind, model=model, external_id=external_id,
                      parent=parent, metadata=metadata or {}, status_since=now,
                      last_heartbeat_at=now, label=label.strip(),
                      owner_id=getattr(owner, "pk", None) or _key_owner(project, actor_label))
        agent.full_clean(exclude=["current_task", "parent", "project"])
        try:
            with transaction.atomic():
                agent.save()
        except IntegrityError:
            # Registered concurrently by a retry of the same client: that one wins.
            existing = Agent.objects.select_for_update().get(project=project,
                                                             external_id=external_id)
        else:
            record_event("agent.registered", project=project, agent=agent,
                         actor_label=actor_label,
                         data={"name": name, "kind": kind, "parent": parent.pk if parent else None},
                         changed=agent, ts=now)
            return agent, True
    agent = existing
    fields = {"name": name, "model": model or agent.model, "kind": kind or agent.kind,
              "metadata": {**(agent.metadata or {}), **(metadata or {})},
              "label": label.strip() or agent.label}
    if parent is not None:
        fields["parent"] = parent
    dirty = [f for f, v in fields.items() if getattr(agent, f) != v]
    for field, value in fields.items():
        setattr(agent, field, value)
    agent.last_heartbeat_at = now
    agent.save(update_fields=[*dirty, "last_heartbeat_at", "updated_at"])
    if agent.status == AgentStatus.OFFLINE:
        lifecycle.release(agent, now=now, reason="re-registered", actor_label=actor_label)
    elif dirty:
        record_event("agent.updated", project=project, agent=agent, actor_label=actor_label,
                     data={"fields": dirty}, changed=agent, ts=now)
    return agent, False


def _key_owner(project: Project, actor_label: str) -> int | None:
    """The user who issued the project key an agent registers with (one query, at creation)."""
    if not actor_label.startswith("key:"):
        return None
    from apps.projects.models import ApiKey

    return ApiKey.objects.filter(project=project, prefix=actor_label[4:]).values_list(
        "created_by_id", flat=True).first()


@transaction.atomic
def agent_set_owner(*, agent: Agent, owner_id: int | str | None, label: str, actor: Any,
                    request: Any = None) -> Agent:
    """An admin says who answers for the agent (a team member's id, or none) and how it is
    labelled (audited)."""
    from django.contrib.auth import get_user_model

    owner = None
    if owner_id not in (None, ""):
        owner = get_user_model().objects.filter(is_active=True, pk=owner_id).first() \
            if str(owner_id).isdigit() else None
        if owner is None:
            raise ValidationError({"owner": ["No such team member."]})
    agent = _lock(agent)
    label = label.strip()
    if len(label) > 60:
        raise ValidationError({"label": ["At most 60 characters."]})
    changes = {}
    if agent.owner_id != getattr(owner, "pk", None):
        changes["owner"] = getattr(owner, "username", None)
        agent.owner = owner
    if agent.label != label:
        changes["label"] = label
        agent.label = label
    if not changes:
        return agent
    agent.save(update_fields=["owner", "label", "updated_at"])
    record_event("agent.updated", project=project_of(agent), agent=agent, actor=actor,
                 actor_label=_actor_label(actor, ""), data={"fields": sorted(changes)},
                 changed=agent)
    audit_record("agent.owner_changed", actor=actor, request=request, target=agent,
                 data={"agent": agent.name, **changes})
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, actor: Any = None, actor_label: str = "",
                 now: datetime | None = None, **fields: Any) -> Agent:
    """PATCH: name, model, kind, metadata (replaced), and optionally status (+ reason)."""
    now = now or timezone.now()
    agent = _lock(agent)
    status = fields.pop("status", None)
    reason = fields.pop("status_reason", "")
    dirty = [f for f, v in fields.items() if getattr(agent, f) != v]
    for field in dirty:
        setattr(agent, field, fields[field])
    if dirty:
        agent.full_clean(exclude=["current_task", "parent", "project"])
        agent.save(update_fields=[*dirty, "updated_at"])
        record_event("agent.updated", project=project_of(agent), agent=agent, actor=actor,
                     actor_label=actor_label, data={"fields": dirty}, changed=agent, ts=now)
    if status is not None:
        _change_status(agent, status, reason=reason, actor=actor, actor_label=actor_label, now=now)
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent, actor: Any = None, actor_label: str = "",
                 finished_only: bool = False, request: HttpRequest | None = None) -> int:
    """Deletes the agent and its sub-agents with their spans, usage, commands and alerts. The
    event log keeps their history (events lose the link; the `agent.deleted` event, agent=None,
    names them with the old id, so feeds can drop the row) and tasks stay as work items.
    `finished_only` (the pages) refuses unless every one of them is stopped or offline.
    Returns how many agents were deleted."""
    from apps.core import events as spine

    family = (_finished_family(agent) if finished_only else
              list(Agent.objects.select_for_update().filter(Q(pk=agent.pk) | Q(parent=agent))))
    agent = next(a for a in family if a.pk == agent.pk)
    old_id, project = agent.pk, project_of(agent)
    data = {"agent_id": old_id, "name": agent.name, "kind": agent.kind,
            "external_id": agent.external_id, "sub_agents": len(family) - 1,
            "version": agent.version + 1}
    ids = [a.pk for a in family]
    AgentTask.objects.filter(agent_id__in=ids).update(agent=None)
    Agent.objects.filter(pk__in=ids).delete()
    event = record_event("agent.deleted", project=project, actor=actor,
                         actor_label=_actor_label(actor, actor_label), data=data, publish=False)
    audit_record("agent.deleted", actor=actor, actor_label=actor_label, request=request,
                 target=agent, data={"agent_id": old_id, "project": project.slug,
                                     "sub_agents": len(family) - 1})
    # Published with the old agent id so the agent's own page hears about it.
    transaction.on_commit(
        lambda: spine.after_commit(event.pk, "agent.deleted", project.pk, old_id)
    )
    return len(ids)


def _change_status(agent: Agent, status: str, *, reason: str, actor: Any, actor_label: str,
                   now: datetime) -> None:
    if status == AgentStatus.OFFLINE:
        raise ValidationError({"status": ["Offline is decided by the server, not reported."]})
    if status == agent.status and reason == agent.status_reason:
        return
    if agent.status == AgentStatus.BLOCKED and status != AgentStatus.BLOCKED:
        agent.error_times = []
    lifecycle.set_status(agent, status, now=now, reason=reason, actor=actor,
                         actor_label=actor_label)
    if status in (AgentStatus.IDLE, AgentStatus.WORKING) and agent.current_task_id is None:
        # A self-reported state stands; only queued work is handed out.
        lifecycle.hand_out_next(agent, now=now, settle=False)


_TOUCH_SQL = """
UPDATE agents_agent SET last_heartbeat_at = %s WHERE id = %s AND project_id = %s{async_commit}
RETURNING {columns},
  (SELECT COUNT(*) FROM agents_agent c WHERE c.parent_id = agents_agent.id) AS sub_agent_count,
  (SELECT t.title FROM agents_agenttask t WHERE t.id = agents_agent.current_task_id) AS t_title,
  (SELECT t.status FROM agents_agenttask t WHERE t.id = agents_agent.current_task_id) AS t_status,
  (SELECT t.priority FROM agents_agenttask t WHERE t.id = agents_agent.current_task_id) AS t_priority,
  (SELECT t.progress FROM agents_agenttask t WHERE t.id = agents_agent.current_task_id) AS t_progress,
  (SELECT t.linear_issue_id FROM agents_agenttask t WHERE t.id = agents_agent.current_task_id)
    AS t_linear_issue_id
"""
# PostgreSQL: commit this one statement asynchronously (set_config(..., true) is SET LOCAL, and
# the statement is its own transaction in autocommit). A heartbeat's timestamp is soft state:
# a database crash may lose the last fraction of a second of them, and the next heartbeat
# restores it; waiting for the WAL flush was most of the statement's cost.
_ASYNC_COMMIT = "\n  AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
_touch_cache: dict[tuple[str, bool], Any] = {}


def _touch_plan(connection: Any, async_commit: bool) -> tuple[str, list[str], dict[int, Any]]:
    """SQL, attribute names and the database converters (datetimes on SQLite, JSON), built
    once per database vendor."""
    plan = _touch_cache.get((connection.vendor, async_commit))
    if plan is None:
        from django.db.models.sql import Query

        fields = Agent._meta.concrete_fields
        sql = _TOUCH_SQL.format(columns=", ".join(f.column for f in fields),
                                async_commit=_ASYNC_COMMIT if async_commit else "")
        compiler = connection.ops.compiler("SQLCompiler")(Query(Agent), connection, "default")
        converters = compiler.get_converters([f.get_col(Agent._meta.db_table) for f in fields])
        plan = (sql, [f.attname for f in fields], converters)
        _touch_cache[(connection.vendor, async_commit)] = plan
    return plan


def agent_touch(*, project_id: int, agent_id: int, now: datetime | None = None) -> Agent | None:
    """The heartbeat hot path in ONE statement: set last_heartbeat_at and read back the agent
    with what its JSON shows (current task, sub-agent count). None if no such agent in the
    project. The caller then decides with heartbeat_is_plain() whether anything else must
    happen (agent_heartbeat, locked). Plain SQL because compiling the equivalent ORM query
    cost more than the database work; UPDATE … RETURNING runs on PostgreSQL and SQLite."""
    from django.db import connection

    async_commit = connection.vendor == "postgresql" and not connection.in_atomic_block
    sql, names, converters = _touch_plan(connection, async_commit)
    with hot_writer(connection), prepared_cursor(connection) as cursor:
        # Adapted as the ORM adapts it: on SQLite a raw aware datetime would be stored as
        # "...+00:00" text, which the sweeps' conditional updates never match.
        stamp = connection.ops.adapt_datetimefield_value(now or timezone.now())
        cursor.execute(sql, [stamp, agent_id, project_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for pos, (functions, expression) in converters.items():
        for convert in functions:
            values[pos] = convert(values[pos], expression, connection)
    agent = Agent.from_db("default", names, values[: len(names)])
    sub_agents, title, status, priority, progress, linear_issue_id = values[len(names):]
    agent.sub_agent_count = sub_agents
    if agent.current_task_id:
        agent._state.fields_cache["current_task"] = AgentTask(
            id=agent.current_task_id, title=title, status=status, priority=priority,
            linear_issue_id=linear_issue_id,
            progress=json.loads(progress) if isinstance(progress, str) else progress,
        )
    from apps.realtime.publish import pulse

    pulse(agent_id=agent.pk, project_id=agent.project_id, at=agent.last_heartbeat_at)
    return agent


def heartbeat_is_plain(agent: Agent, status: str | None = None, message: str = "",
                       progress: Any = None) -> bool:
    """True when a heartbeat would change nothing but last_heartbeat_at."""
    return (
        status in (None, agent.status)
        and (not message or message == agent.last_message)
        and progress is None
        and agent.pending_commands == 0
        and agent.status != AgentStatus.OFFLINE
        and agent.archived_at is None
        and not (agent.status == AgentStatus.BLOCKED and agent.status_reason == lifecycle.IDLE_REASON)
    )


def agent_heartbeat(
    *,
    agent: Agent,
    status: str | None = None,
    message: str = "",
    progress: dict[str, Any] | None = None,
    actor_label: str = "",
    now: datetime | None = None,
    deliver: bool = True,
) -> list[AgentCommand]:
    """Sign of life; returns the commands the agent has not acked yet.

    The hot path (nothing changed, no commands waiting) is one conditional UPDATE without a
    transaction and without an event: a plain heartbeat is not a state change, and the
    condition on status and pending_commands sends any race to the locked slow path."""
    now = now or timezone.now()
    if heartbeat_is_plain(agent, status, message, progress):
        updated = Agent.objects.filter(
            pk=agent.pk, status=agent.status, pending_commands=0
        ).update(last_heartbeat_at=now)
        if updated == 1:
            agent.last_heartbeat_at = now
            return []
    return _heartbeat_locked(agent=agent, status=status, message=message, progress=progress,
                             actor_label=actor_label, now=now, deliver=deliver)


@transaction.atomic
def _heartbeat_locked(*, agent: Agent, status: str | None, message: str,
                      progress: dict[str, Any] | None, actor_label: str, now: datetime,
                      deliver: bool) -> list[AgentCommand]:
    locked = _lock(agent)
    locked.last_heartbeat_at = now
    fields = ["last_heartbeat_at"]
    if locked.archived_at is not None:  # reporting again: back in the lists
        locked.archived_at = agent.archived_at = None
        fields.append("archived_at")
    message_changed = bool(message) and message != locked.last_message
    if message_changed:
        locked.last_message = message[:500]
        fields.append("last_message")
    locked.save(update_fields=fields)
    if locked.status == AgentStatus.OFFLINE or (
        locked.status == AgentStatus.BLOCKED and locked.status_reason == lifecycle.IDLE_REASON
    ):
        lifecycle.release(locked, now=now, reason="heartbeat", actor_label=actor_label)
    if status is not None and status != locked.status:
        _change_status(locked, status, reason=message if status == AgentStatus.BLOCKED else "",
                       actor=None, actor_label=actor_label, now=now)
    elif message_changed:
        record_event("agent.heartbeat", project=project_of(locked), agent=locked,
                     actor_label=actor_label, data={"message": message[:500]}, changed=locked,
                     ts=now)
    if progress is not None and locked.current_task_id:
        AgentTask.objects.filter(pk=locked.current_task_id).update(progress=progress)
        task = AgentTask.objects.get(pk=locked.current_task_id)
        bump_version(task)
        record_event("task.progress", project=project_of(locked), agent=locked, task=task,
                     actor_label=actor_label, data={"task_id": task.pk, "progress": progress},
                     ts=now)
    commands: list[AgentCommand] = []
    if locked.pending_commands:
        # The same delivery as the batch endpoint's: requested → delivered, with its event.
        commands = commands_deliver(agent_ids=[locked.pk], actor_label=actor_label, now=now) \
            if deliver else list(AgentCommand.objects.filter(agent=locked).exclude(
                status=CommandStatus.ACKED).order_by("id"))
    # The caller's instance (serialised in the response) follows the locked row.
    if locked.current_task_id != agent.current_task_id or progress is not None:
        agent._state.fields_cache.pop("current_task", None)
    for field in Agent._meta.concrete_fields:
        setattr(agent, field.attname, getattr(locked, field.attname))
    return commands


@transaction.atomic
def agent_set_status(*, agent: Agent, status: str, reason: str = "", actor: Any = None,
                     actor_label: str = "", now: datetime | None = None) -> Agent:
    now = now or timezone.now()
    if status not in AgentStatus.values:
        raise ValidationError({"status": [f"Unknown status {status!r}."]})
    agent = _lock(agent)
    agent.last_heartbeat_at = now
    agent.save(update_fields=["last_heartbeat_at"])
    if agent.status == AgentStatus.OFFLINE and status != AgentStatus.OFFLINE:
        lifecycle.release(agent, now=now, reason="reported", actor_label=actor_label)
    _change_status(agent, status, reason=reason, actor=actor, actor_label=actor_label, now=now)
    return agent


@transaction.atomic
def agent_action(*, agent: Agent, action: str, actor: Any = None, actor_label: str = "",
                 reason: str = "", now: datetime | None = None) -> AgentCommand:
    """A human steers an agent: the state changes now, the agent learns by a command."""
    now = now or timezone.now()
    if action not in ACTIONS:
        raise ValidationError({"action": [f"Unknown action {action!r}; one of {', '.join(ACTIONS)}."]})
    agent = _lock(agent)
    label = _actor_label(actor, actor_label)
    kwargs = {"now": now, "actor": actor, "actor_label": label}
    if action == CommandAction.SLEEP:
        lifecycle.set_status(agent, AgentStatus.SLEEPING, reason=reason or "manual", **kwargs)
    elif action == CommandAction.WAKE and agent.status == AgentStatus.SLEEPING:
        lifecycle.release(agent, reason=reason, **kwargs)
    elif action == CommandAction.STOP:
        lifecycle.set_status(agent, AgentStatus.STOPPED, reason=reason or "stopped", **kwargs)
    elif action == CommandAction.UNBLOCK and agent.status == AgentStatus.BLOCKED:
        from apps.agents.approvals import approval_decide, pending_approval

        waiting = pending_approval(agent.pk, now)
        if waiting is not None:  # blocked on a permission prompt: unblocking allows it
            approval_decide(approval=waiting, decision="allow", actor=actor, now=now,
                            message=f"Allowed by {label or 'someone'} (unblocked) from Switchboard")
        lifecycle.release(agent, reason=reason, **kwargs)
    elif action == CommandAction.RESTART:
        agent.error_times = []
        agent.save(update_fields=["error_times"])
        if agent.status in lifecycle.HOLDING:
            lifecycle.release(agent, reason=reason or "restart", **kwargs)
        elif agent.status in (AgentStatus.STOPPED, AgentStatus.ERROR):
            status = AgentStatus.WORKING if agent.current_task_id else AgentStatus.IDLE
            lifecycle.set_status(agent, status, reason=reason or "restart", **kwargs)
    return lifecycle.issue_command(agent, action, data={"reason": reason} if reason else {},
                                   **kwargs)


@transaction.atomic
def agent_block(*, agent: Agent, reason: str, actor: Any = None, actor_label: str = "",
                now: datetime | None = None) -> Agent:
    now = now or timezone.now()
    agent = _lock(agent)
    lifecycle.set_status(agent, AgentStatus.BLOCKED, now=now, reason=reason or "blocked",
                         actor=actor, actor_label=_actor_label(actor, actor_label))
    return agent


@transaction.atomic
def agent_unblock(*, agent: Agent, actor: Any = None, actor_label: str = "",
                  now: datetime | None = None) -> Agent:
    now = now or timezone.now()
    agent = _lock(agent)
    if agent.status == AgentStatus.BLOCKED:
        lifecycle.release(agent, now=now, actor=actor, actor_label=_actor_label(actor, actor_label))
    return agent


@transaction.atomic
def agent_error(*, agent: Agent, message: str, data: dict[str, Any] | None = None,
                actor_label: str = "", now: datetime | None = None,
                ts: datetime | None = None, idempotency_key: str = "") -> AgentEvent:
    """Record an error; 3 in the window block the agent, 5 put it to sleep (per-project). A
    repeated `idempotency_key` raises IntegrityError (the caller's savepoint undoes it)."""
    now = now or timezone.now()
    agent = _lock(agent)
    agent.last_heartbeat_at = now
    agent.save(update_fields=["last_heartbeat_at"])
    event = record_event("agent.error", project=project_of(agent), agent=agent,
                         task=agent.current_task, actor_label=actor_label,
                         data={**(data or {}), "message": message[:2000]}, changed=agent,
                         ts=ts or now, idempotency_key=idempotency_key)
    policy = LifecyclePolicy.for_project(agent.project_id)
    count = lifecycle.note_error(agent, at=ts or now, policy=policy)
    lifecycle.apply_error_rules(agent, count, now=now, policy=policy)
    return event


# Statuses a command from the control room puts an agent in, and that a client's own report may
# not undo before the agent has acknowledged the command.
HELD_BY_COMMAND = {CommandAction.STOP: AgentStatus.STOPPED, CommandAction.SLEEP: AgentStatus.SLEEPING}


def command_holds_status(agent: Agent, status: str) -> bool:
    """True when `status`, reported by the agent, would undo a stop or sleep it has not acked
    yet: the server owns the state, and a late report never overwrites a newer command."""
    if not agent.pending_commands or status == agent.status:
        return False
    held = [HELD_BY_COMMAND[a] for a in AgentCommand.objects.filter(
        agent=agent, action__in=list(HELD_BY_COMMAND)).exclude(
        status=CommandStatus.ACKED).values_list("action", flat=True)]
    return agent.status in held


@transaction.atomic
def commands_deliver(*, agent_ids: list[int], actor_label: str = "",
                     now: datetime | None = None) -> list[AgentCommand]:
    """The commands not acked yet of these agents, marked delivered (requested → delivered).
    Handed out again until acked: a lost answer costs a repeat, never a command."""
    now = now or timezone.now()
    commands = list(AgentCommand.objects.select_related("agent__project").filter(
        agent_id__in=agent_ids).exclude(status=CommandStatus.ACKED).order_by("id"))
    if not commands:
        return []
    first = [c for c in commands if c.status == CommandStatus.PENDING]
    AgentCommand.objects.filter(pk__in=[c.pk for c in commands]).update(
        status=CommandStatus.DELIVERED, delivery_count=F("delivery_count") + 1)
    if first:  # delivered_at is the first delivery's time
        AgentCommand.objects.filter(pk__in=[c.pk for c in first]).update(delivered_at=now)
    for command in commands:
        command.delivery_count += 1
        if command in first:
            command.status = CommandStatus.DELIVERED
            command.delivered_at = now
            record_event("command.delivered", project=command.agent.project, agent=command.agent,
                         actor_label=actor_label,
                         data={"command_id": command.pk, "action": command.action},
                         changed=command, ts=now)
    return commands


@transaction.atomic
def command_ack(*, command: AgentCommand, result: dict[str, Any] | None = None,
                actor_label: str = "", now: datetime | None = None) -> AgentCommand:
    """Idempotent: acking twice changes nothing the second time."""
    now = now or timezone.now()
    agent = Agent.objects.select_for_update().get(pk=command.agent_id)
    command = AgentCommand.objects.select_for_update().get(pk=command.pk)
    if command.status == CommandStatus.ACKED:
        return command
    command.status = CommandStatus.ACKED
    command.acked_at = now
    command.result = result or {}
    command.save(update_fields=["status", "acked_at", "result"])
    # Recounted rather than decremented, so the counter heals if it ever drifts.
    pending = AgentCommand.objects.filter(agent=agent).exclude(status=CommandStatus.ACKED).count()
    Agent.objects.filter(pk=agent.pk).update(pending_commands=pending)
    agent.pending_commands = pending
    record_event("command.acked", project=project_of(agent), agent=agent, actor_label=actor_label,
                 data={"command_id": command.pk, "action": command.action}, changed=command,
                 ts=now)
    return command


# --- tasks --------------------------------------------------------------------------------
@transaction.atomic
def task_assign(*, agent: Agent, title: str, description: str = "", priority: int = 0,
                linear_issue_id: str = "", actor: Any = None, actor_label: str = "",
                now: datetime | None = None) -> AgentTask:
    """Creates the task; a free agent starts it at once, a busy one queues it. An urgent or
    high-priority task wakes a sleeping agent."""
    now = now or timezone.now()
    agent = _lock(agent)
    label = _actor_label(actor, actor_label)
    task = AgentTask(project_id=agent.project_id, agent=agent, title=title,
                     description=description, priority=priority, linear_issue_id=linear_issue_id,
                     assigned_by=label[:150])
    task.full_clean(exclude=["project", "agent"])
    task.save()
    record_event("task.assigned", project=project_of(agent), agent=agent, task=task, actor=actor,
                 actor_label=label,
                 data={"task_id": task.pk, "title": title, "linear_issue_id": linear_issue_id,
                       "priority": priority},
                 changed=task, ts=now)
    if agent.status == AgentStatus.SLEEPING and priority in lifecycle.HIGH_PRIORITIES:
        lifecycle.release(agent, now=now, reason=f"high-priority task: {title}"[:300],
                          actor=actor, actor_label=label)
    if lifecycle.can_take_task(agent):
        lifecycle.hand_out_next(agent, now=now, sleep_if_scheduled=False)
    task.refresh_from_db()
    return task


def _finish(task: AgentTask, status: str, *, now: datetime, actor: Any, actor_label: str,
            result: str = "", error: str = "") -> AgentTask:
    agent = Agent.objects.select_for_update().filter(pk=task.agent_id).first()
    task = AgentTask.objects.select_for_update().get(pk=task.pk)
    if task.status not in OPEN_TASK:
        return task  # finishing twice changes nothing (client retries)
    task.status = status
    task.result = result
    task.error = error
    task.finished_at = now
    task.save(update_fields=["status", "result", "error", "finished_at", "updated_at"])
    kind = {"completed": "task.completed", "failed": "task.failed"}.get(status, "task.cancelled")
    data: dict[str, Any] = {"task_id": task.pk, "title": task.title,
                            "linear_issue_id": task.linear_issue_id}
    data.update({"result": result[:2000]} if status == TaskStatus.COMPLETED else {})
    data.update({"error": error[:2000]} if status == TaskStatus.FAILED else {})
    record_event(kind, project=Project(pk=task.project_id), agent=agent, task=task, actor=actor,
                 actor_label=_actor_label(actor, actor_label), data=data, changed=task, ts=now)
    from apps.agents import workflows

    if agent is not None and agent.current_task_id == task.pk:
        agent.current_task = None
        agent.save(update_fields=["current_task", "updated_at"])
    # A workflow feeds its next step first, so it wins over other queued tasks.
    workflows.on_task_finished(task, now=now)
    if agent is not None:
        agent.refresh_from_db()
        lifecycle.hand_out_next(agent, now=now)
    return task


@transaction.atomic
def task_complete(*, task: AgentTask, result: str = "", actor: Any = None, actor_label: str = "",
                  now: datetime | None = None) -> AgentTask:
    """Records the result, then the agent gets its next pending task or sleeps in a window."""
    return _finish(task, TaskStatus.COMPLETED, now=now or timezone.now(), actor=actor,
                   actor_label=actor_label, result=result)


@transaction.atomic
def task_fail(*, task: AgentTask, error: str, actor: Any = None, actor_label: str = "",
              now: datetime | None = None) -> AgentTask:
    return _finish(task, TaskStatus.FAILED, now=now or timezone.now(), actor=actor,
                   actor_label=actor_label, error=error)


@transaction.atomic
def task_cancel(*, task: AgentTask, actor: Any = None, actor_label: str = "",
                now: datetime | None = None) -> AgentTask:
    return _finish(task, TaskStatus.CANCELLED, now=now or timezone.now(), actor=actor,
                   actor_label=actor_label)


@transaction.atomic
def task_update(*, task: AgentTask, actor: Any = None, actor_label: str = "",
                now: datetime | None = None, **fields: Any) -> AgentTask:
    """PATCH a task: title, description, priority, progress; `status` completed / failed /
    cancelled finishes it (with result / error)."""
    now = now or timezone.now()
    status = fields.pop("status", None)
    result = fields.pop("result", "")
    error = fields.pop("error", "")
    task = AgentTask.objects.select_for_update().get(pk=task.pk)
    dirty = [f for f, v in fields.items() if getattr(task, f) != v]
    for field in dirty:
        setattr(task, field, fields[field])
    if dirty:
        task.full_clean(exclude=["project", "agent"])
        task.save(update_fields=[*dirty, "updated_at"])
        record_event("task.updated", project=Project(pk=task.project_id), agent=task.agent,
                     task=task, actor=actor, actor_label=_actor_label(actor, actor_label),
                     data={"task_id": task.pk, "fields": dirty}, changed=task, ts=now)
    if status == TaskStatus.COMPLETED:
        task = _finish(task, status, now=now, actor=actor, actor_label=actor_label, result=result)
    elif status == TaskStatus.FAILED:
        task = _finish(task, status, now=now, actor=actor, actor_label=actor_label,
                       error=error or "failed")
    elif status == TaskStatus.CANCELLED:
        task = _finish(task, status, now=now, actor=actor, actor_label=actor_label)
    elif status is not None and status != task.status:
        raise ValidationError({"status": ["Only completed, failed or cancelled can be set."]})
    return task


# --- spans live in spans.py; re-exported for callers of the services module ---------------
from apps.agents.spans import TOKEN_FIELDS, span_record  # noqa: E402

__all__ = ["TOKEN_FIELDS", "span_record"]


# --- archive --------------------------------------------------------------------------------
def _finished_family(agent: Agent) -> list[Agent]:
    """The agent and its sub-agents, locked; all must be finished (stopped or offline)."""
    family = list(Agent.objects.select_for_update().filter(Q(pk=agent.pk) | Q(parent=agent))
                  .order_by("id"))
    busy = [a.name for a in family if a.status not in FINISHED_STATUSES]
    if busy:
        raise ValidationError(
            f"Only stopped or offline agents can be archived or deleted; still running: "
            f"{', '.join(busy[:5])}. Stop it first.")
    return family


@transaction.atomic
def agent_archive(*, agent: Agent, archive: bool = True, actor: Any = None,
                  actor_label: str = "", now: datetime | None = None,
                  request: HttpRequest | None = None) -> int:
    """Put a finished agent (with its sub-agents) out of the lists, or back. Nothing is lost:
    an archived agent keeps its traces, usage and events, and reporting again un-archives it.
    Returns how many agents changed."""
    now = now or timezone.now()
    family = _finished_family(agent) if archive else [_lock(agent)]
    ids = [a.pk for a in family if (a.archived_at is None) == archive]
    if not ids:
        return 0
    Agent.objects.filter(pk__in=ids).update(archived_at=now if archive else None, updated_at=now)
    record_event("agent.archived" if archive else "agent.unarchived", project=project_of(agent),
                 agent=agent, actor=actor, actor_label=_actor_label(actor, actor_label),
                 data={"agents": len(ids)}, changed=agent, ts=now)
    audit_record("agent.archived" if archive else "agent.unarchived", actor=actor,
                 actor_label=actor_label, request=request, target=agent,
                 data={"agents": len(ids), "project": project_of(agent).slug})
    return len(ids)


@transaction.atomic
def agents_archive_finished(*, agents: Any, actor: Any = None, actor_label: str = "",
                            now: datetime | None = None) -> int:
    """Archive every finished, not yet archived agent of a queryset (the agents list's "Archive
    finished"): one UPDATE, one event per project."""
    now = now or timezone.now()
    finished = agents.filter(status__in=FINISHED_STATUSES, archived_at__isnull=True)
    per_project: dict[int, int] = {}
    ids = []
    for pk, project_id in finished.values_list("pk", "project_id"):
        ids.append(pk)
        per_project[project_id] = per_project.get(project_id, 0) + 1
    if not ids:
        return 0
    Agent.objects.filter(pk__in=ids).update(archived_at=now, updated_at=now)
    label = _actor_label(actor, actor_label)
    for project in Project.objects.filter(pk__in=per_project):
        record_event("agents.archived", project=project, actor=actor, actor_label=label,
                     data={"agents": per_project[project.pk]}, ts=now)
        audit_record("agents.archived", actor=actor, actor_label=actor_label, target=project,
                     data={"agents": per_project[project.pk]})
    return len(ids)
