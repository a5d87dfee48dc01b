"""Writes of a project's lifecycle settings: thresholds (LifecyclePolicy) and its sleep
schedule. The lifecycle sweeps read both from the database on every run, so a change applies
at the next sweep in every process."""

from __future__ import annotations

from datetime import time
from typing import Any

from django.db import transaction

from apps.agents.models import Agent, LifecyclePolicy, SleepSchedule, SleepWindow
from apps.core.audit import audit_record
from apps.projects.models import Project


def policy_of(project: Project) -> LifecyclePolicy:
    """The project's thresholds, or the defaults (unsaved) when it has none of its own."""
    return LifecyclePolicy.objects.filter(project=project).first() or LifecyclePolicy(
        project=project, **LifecyclePolicy.DEFAULTS
    )


def project_schedule(project: Project) -> SleepSchedule | None:
    return SleepSchedule.objects.filter(project=project, agent__isnull=True).first()


@transaction.atomic
def lifecycle_policy_save(*, project: Project, values: dict[str, int], actor: Any = None,
                          request: Any = None) -> LifecyclePolicy:
    policy = LifecyclePolicy.objects.select_for_update().filter(project=project).first()
    policy = policy or LifecyclePolicy(project=project)
    for name, value in values.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    audit_record("lifecycle.policy_saved", actor=actor, request=request, target=project,
                 data={"project": project.slug, **values})
    return policy


def agent_schedule(agent: Agent) -> SleepSchedule | None:
    return SleepSchedule.objects.filter(agent=agent).first()


@transaction.atomic
def sleep_schedule_save(*, project: Project, timezone: str, enabled: bool,
                        windows: list[tuple[int, time, time]], agent: Agent | None = None,
                        actor: Any = None, request: Any = None) -> SleepSchedule:
    """The project-wide schedule (agent None; agents with a schedule of their own keep theirs)
    or one agent's, with exactly these windows."""
    rows = SleepSchedule.objects.select_for_update()
    rows = rows.filter(agent=agent) if agent is not None else rows.filter(
        project=project, agent__isnull=True)
    schedule = rows.first() or SleepSchedule(project=project, agent=agent)
    schedule.timezone, schedule.enabled = timezone, enabled
    schedule.full_clean(exclude=["agent"])
    schedule.save()
    schedule.windows.all().delete()
    SleepWindow.objects.bulk_create(
        [SleepWindow(schedule=schedule, weekday=d, start=s, end=e) for d, s, e in sorted(windows)]
    )
    audit_record(
        "lifecycle.schedule_saved", actor=actor, request=request, target=agent or project,
        data={"project": project.slug, "agent": agent.pk if agent else None,
              "timezone": timezone, "enabled": enabled,
              "windows": [f"{d} {s:%H:%M}-{e:%H:%M}" for d, s, e in sorted(windows)]},
    )
    return schedule


@transaction.atomic
def agent_schedule_delete(*, agent: Agent, actor: Any = None, request: Any = None) -> bool:
    """Drop the agent's own schedule: it follows the project's again. True if there was one."""
    deleted, _ = SleepSchedule.objects.filter(agent=agent).delete()
    if deleted:
        audit_record("lifecycle.schedule_removed", actor=actor, request=request, target=agent,
                     data={"project": agent.project.slug, "agent": agent.pk})
    return bool(deleted)
