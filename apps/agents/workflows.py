"""Workflows: ordered steps (a task, or a human approval) fed to one agent one at a time.

The state is the Workflow row (status, position) and its steps; a finished task advances it
from task_complete / task_fail in the same transaction, so a restart loses nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.agents.models import (
    Agent,
    AgentTask,
    StepKind,
    StepStatus,
    TaskStatus,
    Workflow,
    WorkflowStatus,
    WorkflowStep,
)
from apps.core.events import record_event
from apps.projects.models import Project

SIGNALS = ("pause", "resume", "cancel", "approve")
ACTIVE = (WorkflowStatus.RUNNING, WorkflowStatus.WAITING, WorkflowStatus.PAUSED)


def _event(kind: str, workflow: Workflow, *, now: datetime, actor: Any = None,
           actor_label: str = "", **data: Any) -> None:
    record_event(kind, project=Project(pk=workflow.project_id), agent=Agent(pk=workflow.agent_id),
                 actor=actor, actor_label=actor_label,
                 data={"workflow_id": workflow.pk, "position": workflow.position, **data},
                 changed=workflow, ts=now)


def active_workflow(agent: Agent, *, lock: bool = False) -> Workflow | None:
    qs = Workflow.objects.filter(agent=agent, status__in=ACTIVE)
    return (qs.select_for_update() if lock else qs).first()


@transaction.atomic
def workflow_start(*, agent: Agent, steps: list[dict[str, Any]], name: str = "",
                   actor: Any = None, actor_label: str = "",
                   now: datetime | None = None) -> Workflow:
    now = now or timezone.now()
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    current = active_workflow(agent, lock=True)
    if current is not None:
        raise ValidationError(
            {"steps": [f"This agent already runs workflow #{current.pk}; cancel it first."]}
        )
    if getattr(actor, "is_authenticated", False) is not True:
        actor = None
    workflow = Workflow.objects.create(project_id=agent.project_id, agent=agent, name=name,
                                       created_by=actor, actor_label=actor_label)
    WorkflowStep.objects.bulk_create(
        WorkflowStep(workflow=workflow, position=i, kind=s.get("kind", StepKind.TASK),
                     title=s["title"], description=s.get("description", ""),
                     priority=s.get("priority", 0))
        for i, s in enumerate(steps)
    )
    _event("workflow.started", workflow, now=now, actor=actor, actor_label=actor_label,
           steps=len(steps), name=name)
    _feed(workflow, now=now)
    return workflow


def _feed(workflow: Workflow, *, now: datetime) -> None:
    """Start the step at `position`, or finish the workflow after the last one."""
    from apps.agents.services import task_assign

    step = workflow.steps.filter(position=workflow.position).first()
    if step is None:
        workflow.status = WorkflowStatus.COMPLETED
        workflow.save(update_fields=["status", "updated_at"])
        _event("workflow.completed", workflow, now=now)
        return
    step.status = StepStatus.ACTIVE
    if step.kind == StepKind.APPROVAL:
        step.save(update_fields=["status"])
        workflow.status = WorkflowStatus.WAITING
        workflow.save(update_fields=["status", "updated_at"])
        _event("workflow.approval_requested", workflow, now=now, step=step.title)
        return
    step.task = task_assign(agent=Agent(pk=workflow.agent_id), title=step.title,
                            description=step.description, priority=step.priority,
                            actor_label=f"workflow #{workflow.pk}", now=now)
    step.save(update_fields=["status", "task"])
    workflow.status = WorkflowStatus.RUNNING
    workflow.save(update_fields=["status", "updated_at"])
    _event("workflow.step_started", workflow, now=now, step=step.title, task_id=step.task.pk)


def on_task_finished(task: AgentTask, *, now: datetime) -> None:
    step = WorkflowStep.objects.filter(task=task).select_related("workflow").first()
    if step is None or step.status != StepStatus.ACTIVE:
        return
    workflow = Workflow.objects.select_for_update().get(pk=step.workflow_id)
    if task.status == TaskStatus.COMPLETED:
        step.status, step.finished_at = StepStatus.DONE, now
        step.save(update_fields=["status", "finished_at"])
        if workflow.status not in ACTIVE:
            return
        workflow.position = step.position + 1
        workflow.save(update_fields=["position", "updated_at"])
        if workflow.status == WorkflowStatus.RUNNING:
            _feed(workflow, now=now)
        return
    # A failed or cancelled task pauses the workflow for a human; resume retries the step.
    step.status, step.finished_at = StepStatus.FAILED, now
    step.save(update_fields=["status", "finished_at"])
    if workflow.status in ACTIVE:
        workflow.status = WorkflowStatus.PAUSED
        workflow.save(update_fields=["status", "updated_at"])
        _event("workflow.step_failed", workflow, now=now, step=step.title, task_id=task.pk)


@transaction.atomic
def workflow_signal(*, agent: Agent, signal: str, actor: Any = None, actor_label: str = "",
                    now: datetime | None = None) -> Workflow:
    now = now or timezone.now()
    if signal not in SIGNALS:
        raise ValidationError({"signal": [f"Unknown signal {signal!r}; one of {', '.join(SIGNALS)}."]})
    Agent.objects.select_for_update().get(pk=agent.pk)
    workflow = active_workflow(agent, lock=True)
    if workflow is None:
        raise ValidationError({"signal": ["This agent has no active workflow."]})
    if getattr(actor, "is_authenticated", False) is not True:
        actor = None
    step = workflow.steps.filter(position=workflow.position).first()
    kw = {"now": now, "actor": actor, "actor_label": actor_label}
    if signal == "pause":
        if workflow.status != WorkflowStatus.PAUSED:
            workflow.status = WorkflowStatus.PAUSED
            workflow.save(update_fields=["status", "updated_at"])
            _event("workflow.paused", workflow, **kw)
    elif signal == "resume":
        if workflow.status == WorkflowStatus.PAUSED:
            _event("workflow.resumed", workflow, **kw)
            if step is not None and step.status == StepStatus.ACTIVE:
                workflow.status = (WorkflowStatus.WAITING if step.kind == StepKind.APPROVAL
                                   else WorkflowStatus.RUNNING)
                workflow.save(update_fields=["status", "updated_at"])
            else:
                workflow.status = WorkflowStatus.RUNNING
                _feed(workflow, now=now)  # the next step, or a retry of a failed one
    elif signal == "cancel":
        from apps.agents.services import task_cancel

        workflow.status = WorkflowStatus.CANCELLED
        workflow.save(update_fields=["status", "updated_at"])
        for pending in workflow.steps.filter(status__in=[StepStatus.PENDING, StepStatus.ACTIVE]):
            if pending.task_id and pending.task.status == TaskStatus.PENDING:
                task_cancel(task=pending.task, actor=actor, actor_label=actor_label, now=now)
            pending.status = StepStatus.CANCELLED
            pending.save(update_fields=["status"])
        _event("workflow.cancelled", workflow, **kw)
    elif signal == "approve":
        if step is None or step.kind != StepKind.APPROVAL or step.status != StepStatus.ACTIVE:
            raise ValidationError({"signal": ["The current step is not waiting for approval."]})
        step.status, step.finished_at, step.approved_by = StepStatus.DONE, now, actor
        step.save(update_fields=["status", "finished_at", "approved_by"])
        workflow.position = step.position + 1
        paused = workflow.status == WorkflowStatus.PAUSED
        if not paused:
            workflow.status = WorkflowStatus.RUNNING
        workflow.save(update_fields=["position", "status", "updated_at"])
        _event("workflow.approved", workflow, step=step.title, **kw)
        if not paused:
            _feed(workflow, now=now)
    return workflow
