"""The lifecycle engine: status transitions, error streaks, sleep windows, task hand-out, and
the beat sweeps for the time-based rules.

Everything here works on rows: the helpers expect to run inside the caller's transaction on a
locked agent, and the sweeps claim each row with a conditional UPDATE, so running a sweep twice,
or on two beat hosts at once, changes nothing the second time. `now` is a parameter everywhere so
tests drive the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.agents.models import (
    Agent,
    AgentCommand,
    AgentStatus,
    AgentTask,
    CommandAction,
    LifecyclePolicy,
    Priority,
    SleepSchedule,
    TaskStatus,
)
from apps.core.events import bump_version, record_event
from apps.projects.models import Project

IDLE_REASON = "idle"
SCHEDULE_REASON = "schedule"
HIGH_PRIORITIES = (Priority.URGENT, Priority.HIGH)
# States an agent is put into by the engine or a human; leaving them restores `previous_status`.
HOLDING = (AgentStatus.BLOCKED, AgentStatus.SLEEPING, AgentStatus.OFFLINE)
# States in which silence makes an agent offline (sleeping and stopped agents are quiet on purpose).
CAN_GO_OFFLINE = (AgentStatus.IDLE, AgentStatus.WORKING, AgentStatus.BLOCKED, AgentStatus.ERROR)


def project_of(agent: Agent) -> Project:
    """The agent's project without a query: record_event only needs its id."""
    if "project" in agent._state.fields_cache:
        return agent.project
    return Project(pk=agent.project_id)


# --- status transitions ------------------------------------------------------------------
def event_kind_for(old: str, new: str, reason: str) -> str:
    if new == AgentStatus.BLOCKED:
        return "agent.idle" if reason == IDLE_REASON else "agent.blocked"
    if new == AgentStatus.SLEEPING:
        return "agent.sleeping"
    if new == AgentStatus.OFFLINE:
        return "agent.offline"
    if old == AgentStatus.OFFLINE:
        return "agent.online"
    if old == AgentStatus.SLEEPING:
        return "agent.woke"
    if old == AgentStatus.BLOCKED:
        return "agent.unblocked"
    return "agent.status_changed"


def set_status(
    agent: Agent,
    status: str,
    *,
    now: datetime,
    reason: str = "",
    actor: Any = None,
    actor_label: str = "",
    extra: dict[str, Any] | None = None,
) -> bool:
    """Move a locked agent to `status` and record exactly one event. False if nothing changed."""
    old = agent.status
    if old == status and agent.status_reason == reason:
        return False
    since = agent.status_since
    if status in HOLDING and old not in HOLDING:
        agent.previous_status = old
    # Leaving a block or a sleep starts a new error streak.
    if old in (AgentStatus.BLOCKED, AgentStatus.SLEEPING) and status not in HOLDING:
        agent.error_times = []
    agent.status = status
    agent.status_reason = reason[:300]
    agent.status_since = now
    agent.save(
        update_fields=["status", "status_reason", "status_since", "previous_status",
                       "error_times", "updated_at"]
    )
    record_event(
        event_kind_for(old, status, reason),
        project=project_of(agent),
        agent=agent,
        actor=actor,
        actor_label=actor_label,
        # `since`: when the old status began, so the rollups count the time spent in it.
        data={"from": old, "to": status, "reason": reason,
              "since": since.isoformat() if since else None, **(extra or {})},
        changed=agent,
        ts=now,
    )
    return True


def resume_status(agent: Agent) -> str:
    """The state to return to when a hold (blocked, sleeping, offline) ends."""
    previous = agent.previous_status
    status = previous if previous in (AgentStatus.IDLE, AgentStatus.WORKING, AgentStatus.ERROR) else AgentStatus.IDLE
    if status == AgentStatus.WORKING and not agent.current_task_id:
        status = AgentStatus.IDLE
    if status == AgentStatus.IDLE and agent.current_task_id:
        status = AgentStatus.WORKING
    return status


def release(agent: Agent, *, now: datetime, reason: str = "", actor: Any = None,
            actor_label: str = "") -> bool:
    """End a hold: back to the previous state, then pick up work if free."""
    changed = set_status(agent, resume_status(agent), now=now, reason=reason, actor=actor,
                         actor_label=actor_label)
    if changed and agent.current_task_id is None:
        hand_out_next(agent, now=now, sleep_if_scheduled=False)
    return changed


# --- errors -------------------------------------------------------------------------------
def note_error(agent: Agent, *, at: datetime, policy: LifecyclePolicy) -> int:
    """Add an error to the locked agent's streak; returns the errors inside the window."""
    window_start = at - timedelta(seconds=policy.error_window_seconds)
    recent = []
    for value in agent.error_times or []:
        try:
            when = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            continue
        if when >= window_start:
            recent.append(value)
    recent.append(at.isoformat())
    keep = max(policy.sleep_after_errors, policy.block_after_errors, 1)
    agent.error_times = recent[-keep:]
    agent.save(update_fields=["error_times", "updated_at"])
    return len(recent)


def apply_error_rules(agent: Agent, count: int, *, now: datetime, policy: LifecyclePolicy) -> None:
    minutes = max(policy.error_window_seconds // 60, 1)
    if count >= policy.sleep_after_errors and agent.status != AgentStatus.SLEEPING:
        reason = f"error threshold: {count} errors in {minutes} min"
        set_status(agent, AgentStatus.SLEEPING, now=now, reason=reason)
        issue_command(agent, CommandAction.SLEEP, data={"reason": reason}, now=now)
    elif count >= policy.block_after_errors and agent.status not in (
        AgentStatus.BLOCKED, AgentStatus.SLEEPING, AgentStatus.STOPPED
    ):
        set_status(agent, AgentStatus.BLOCKED, now=now,
                   reason=f"error streak: {count} errors in {minutes} min")


# --- commands -----------------------------------------------------------------------------
def issue_command(agent: Agent, action: str, *, now: datetime, data: dict[str, Any] | None = None,
                  actor: Any = None, actor_label: str = "") -> AgentCommand:
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    command = AgentCommand.objects.create(
        project_id=agent.project_id, agent=agent, action=action, data=data or {},
        created_by=actor, actor_label=actor_label or (actor.get_username() if actor else ""),
        created_at=now,
    )
    Agent.objects.filter(pk=agent.pk).update(pending_commands=F("pending_commands") + 1)
    agent.pending_commands += 1
    record_event("command.created", project=project_of(agent), agent=agent, actor=actor,
                 actor_label=actor_label, data={"command_id": command.pk, "action": action},
                 changed=command, ts=now)
    return command


# --- tasks --------------------------------------------------------------------------------
def task_payload(task: AgentTask) -> dict[str, Any]:
    return {"task_id": task.pk, "title": task.title, "description": task.description,
            "priority": task.priority, "linear_issue_id": task.linear_issue_id}


def start_task(agent: Agent, task: AgentTask, *, now: datetime, actor: Any = None,
               actor_label: str = "") -> None:
    """Hand a task to a free agent: in progress, current, a `task` command, status working."""
    task.status = TaskStatus.IN_PROGRESS
    task.started_at = task.started_at or now
    task.save(update_fields=["status", "started_at", "updated_at"])
    bump_version(task)
    agent.current_task = task
    agent.save(update_fields=["current_task", "updated_at"])
    record_event("task.started", project=project_of(agent), agent=agent, task=task, actor=actor,
                 actor_label=actor_label, data={"task_id": task.pk, "title": task.title},
                 changed=agent, ts=now)
    issue_command(agent, CommandAction.TASK, data=task_payload(task), now=now, actor=actor,
                  actor_label=actor_label)
    if agent.status != AgentStatus.WORKING:
        set_status(agent, AgentStatus.WORKING, now=now, reason="", actor=actor,
                   actor_label=actor_label)


def can_take_task(agent: Agent) -> bool:
    return agent.current_task_id is None and agent.status in (
        AgentStatus.IDLE, AgentStatus.WORKING, AgentStatus.ERROR
    )


def next_pending_task(agent: Agent) -> AgentTask | None:
    """Most urgent first (Linear's scale: 1 urgent … 4 low, 0 none last), then oldest."""
    rank = Case(When(priority=Priority.NONE, then=Value(99)), default=F("priority"),
                output_field=IntegerField())
    return (
        AgentTask.objects.filter(agent=agent, status=TaskStatus.PENDING)
        .order_by(rank, "created_at", "id")
        .first()
    )


def hand_out_next(agent: Agent, *, now: datetime, sleep_if_scheduled: bool = True,
                  settle: bool = True) -> None:
    """A free agent gets its next pending task, or (with `settle`) sleeps inside a sleep
    window or idles."""
    if not can_take_task(agent):
        return
    task = next_pending_task(agent)
    if task is not None:
        start_task(agent, task, now=now)
    elif not settle:
        return
    elif sleep_if_scheduled and in_sleep_window(agent, now):
        set_status(agent, AgentStatus.SLEEPING, now=now, reason=SCHEDULE_REASON)
        issue_command(agent, CommandAction.SLEEP, data={"reason": SCHEDULE_REASON}, now=now)
    elif agent.status == AgentStatus.WORKING:
        set_status(agent, AgentStatus.IDLE, now=now)


# --- sleep windows ------------------------------------------------------------------------
def window_active(schedule: SleepSchedule, at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(schedule.timezone))
    day, clock = local.weekday(), local.time().replace(tzinfo=None)
    for window in schedule.windows.all():
        if window.crosses_midnight:
            if (day == window.weekday and clock >= window.start) or (
                day == (window.weekday + 1) % 7 and clock < window.end
            ):
                return True
        elif day == window.weekday and window.start <= clock < window.end:
            return True
    return False


def _pick_schedule(agent: Agent, schedules: Iterable[SleepSchedule]) -> SleepSchedule | None:
    own = project_wide = None
    for schedule in schedules:
        if schedule.agent_id == agent.pk:
            own = schedule
        elif schedule.agent_id is None and schedule.project_id == agent.project_id:
            project_wide = schedule
    chosen = own or project_wide
    return chosen if chosen is not None and chosen.enabled else None


def in_sleep_window(agent: Agent, at: datetime) -> bool:
    """Inside the agent's own schedule, or else its project's; an agent's disabled schedule
    means it never sleeps by schedule."""
    schedules = SleepSchedule.objects.filter(project_id=agent.project_id).filter(
        Q(agent=agent) | Q(agent__isnull=True)
    ).prefetch_related("windows")
    schedule = _pick_schedule(agent, schedules)
    return schedule is not None and window_active(schedule, at)


# --- sweeps (Celery beat, every 30 s) -------------------------------------------------------
def _policies() -> tuple[dict[int, LifecyclePolicy], LifecyclePolicy]:
    rows = {p.project_id: p for p in LifecyclePolicy.objects.all()}
    return rows, LifecyclePolicy(**LifecyclePolicy.DEFAULTS)


def _claim(agent: Agent, conditions: dict[str, Any], changes: dict[str, Any]) -> bool:
    """Conditional UPDATE: only the sweep that still sees the old state wins the row."""
    won = Agent.objects.filter(pk=agent.pk, **conditions).update(**changes) == 1
    if won:
        for field, value in changes.items():
            setattr(agent, field, value)
    return won


def sweep_idle(now: datetime | None = None) -> int:
    """Working agents silent for `idle_after_seconds` are blocked with reason "idle"."""
    now = now or timezone.now()
    policies, default = _policies()
    shortest = min([default.idle_after_seconds, *(p.idle_after_seconds for p in policies.values())])
    seen = Coalesce("last_heartbeat_at", "status_since")
    candidates = Agent.objects.filter(status=AgentStatus.WORKING).alias(seen=seen).filter(
        seen__lt=now - timedelta(seconds=shortest)
    )
    changed = 0
    for agent in candidates:
        policy = policies.get(agent.project_id, default)
        if (agent.last_heartbeat_at or agent.status_since) >= now - timedelta(
            seconds=policy.idle_after_seconds
        ):
            continue
        with transaction.atomic():
            old = agent.status
            if not _claim(
                agent,
                {"status": old, "last_heartbeat_at": agent.last_heartbeat_at},
                {"status": AgentStatus.BLOCKED, "status_reason": IDLE_REASON,
                 "previous_status": old, "status_since": now, "updated_at": now},
            ):
                continue
            minutes = policy.idle_after_seconds // 60
            record_event("agent.idle", project=project_of(agent), agent=agent,
                         actor_label="lifecycle",
                         data={"from": old, "to": AgentStatus.BLOCKED, "reason": IDLE_REASON,
                               "silent_minutes": minutes},
                         changed=agent, ts=now)
            changed += 1
    return changed


def sweep_offline(now: datetime | None = None) -> int:
    """Agents silent for `offline_after_seconds` are offline."""
    now = now or timezone.now()
    policies, default = _policies()
    shortest = min([default.offline_after_seconds,
                    *(p.offline_after_seconds for p in policies.values())])
    seen = Coalesce("last_heartbeat_at", "created_at")
    candidates = Agent.objects.filter(status__in=CAN_GO_OFFLINE).alias(seen=seen).filter(
        seen__lt=now - timedelta(seconds=shortest)
    )
    changed = 0
    for agent in candidates:
        policy = policies.get(agent.project_id, default)
        if (agent.last_heartbeat_at or agent.created_at) >= now - timedelta(
            seconds=policy.offline_after_seconds
        ):
            continue
        with transaction.atomic():
            old = agent.status
            previous = agent.previous_status if old in HOLDING else old
            if not _claim(
                agent,
                {"status": old, "last_heartbeat_at": agent.last_heartbeat_at},
                {"status": AgentStatus.OFFLINE, "status_reason": "no heartbeat",
                 "previous_status": previous, "status_since": now, "updated_at": now},
            ):
                continue
            record_event("agent.offline", project=project_of(agent), agent=agent,
                         actor_label="lifecycle",
                         data={"from": old, "to": AgentStatus.OFFLINE, "reason": "no heartbeat"},
                         changed=agent, ts=now)
            changed += 1
    return changed


def sweep_sleep_windows(now: datetime | None = None) -> int:
    """Idle agents inside their window go to sleep; schedule-sleepers outside it wake."""
    now = now or timezone.now()
    schedules = list(SleepSchedule.objects.prefetch_related("windows"))
    if not schedules:
        return 0
    project_ids = {s.project_id for s in schedules}
    candidates = Agent.objects.filter(project_id__in=project_ids).filter(
        Q(status=AgentStatus.IDLE, current_task__isnull=True)
        | Q(status=AgentStatus.SLEEPING, status_reason=SCHEDULE_REASON)
    )
    active_cache: dict[int, bool] = {}
    changed = 0
    for agent in candidates:
        schedule = _pick_schedule(agent, schedules)
        if schedule is None:
            inside = False
        else:
            if schedule.pk not in active_cache:
                active_cache[schedule.pk] = window_active(schedule, now)
            inside = active_cache[schedule.pk]
        with transaction.atomic():
            if agent.status == AgentStatus.IDLE and inside:
                if not _claim(agent, {"status": AgentStatus.IDLE, "current_task__isnull": True},
                              {"status": AgentStatus.SLEEPING, "status_reason": SCHEDULE_REASON,
                               "previous_status": AgentStatus.IDLE, "status_since": now,
                               "updated_at": now}):
                    continue
                record_event("agent.sleeping", project=project_of(agent), agent=agent,
                             actor_label="lifecycle",
                             data={"from": AgentStatus.IDLE, "to": AgentStatus.SLEEPING,
                                   "reason": SCHEDULE_REASON},
                             changed=agent, ts=now)
                issue_command(agent, CommandAction.SLEEP, data={"reason": SCHEDULE_REASON},
                              now=now)
                changed += 1
            elif agent.status == AgentStatus.SLEEPING and not inside:
                if not _claim(agent, {"status": AgentStatus.SLEEPING,
                                      "status_reason": SCHEDULE_REASON},
                              {"status": AgentStatus.IDLE, "status_reason": "",
                               "status_since": now, "error_times": [], "updated_at": now}):
                    continue
                record_event("agent.woke", project=project_of(agent), agent=agent,
                             actor_label="lifecycle",
                             data={"from": AgentStatus.SLEEPING, "to": AgentStatus.IDLE,
                                   "reason": SCHEDULE_REASON},
                             changed=agent, ts=now)
                issue_command(agent, CommandAction.WAKE, data={"reason": SCHEDULE_REASON},
                              now=now)
                agent = Agent.objects.select_for_update().get(pk=agent.pk)
                hand_out_next(agent, now=now, sleep_if_scheduled=False)
                changed += 1
    return changed


def sweep_all(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {
        "idle": sweep_idle(now),
        "offline": sweep_offline(now),
        "sleep": sweep_sleep_windows(now),
    }
