"""The event spine: every state change someone may want to see, alert on or count.

record_event() writes an AgentEvent inside the caller's transaction, bumps the version of the
row it changed, and on commit publishes to the realtime groups and calls the registered
reactors (alerts, routing, ...). Ingestion never waits on those reactors: they enqueue
Celery tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import F

if TYPE_CHECKING:
    from apps.agents.models import AgentEvent

logger = logging.getLogger(__name__)

# A reactor gets (event_id, kind, project_id, agent_id) after commit. Apps register theirs in
# AppConfig.ready(); a reactor must be quick (enqueue a task), never block ingestion.
Reactor = Callable[[int, str, int, "int | None"], None]
_reactors: dict[str, Reactor] = {}
# A recorder gets the same arguments inside the caller's transaction, right after the event is
# written: for durable bookkeeping that must commit (or roll back) with the event itself.
_recorders: dict[str, Reactor] = {}
# Whether a recorder would write anything for a kind (a cheap in-process answer); a recorder
# registered without one is taken to want every kind.
_recorder_wants: dict[str, Callable[[str], bool]] = {}


def register_reactor(name: str, reactor: Reactor) -> None:
    _reactors[name] = reactor


# Plain events bulk-inserted by POST /events skip reactors (one realtime publish per agent per
# batch instead); a bulk recorder gets (project_id, [(event_id, kind, agent_id), ...]) inside
# the batch's transaction.
BulkRecorder = Callable[[int, list[tuple[int, str, "int | None"]]], None]
_bulk_recorders: dict[str, BulkRecorder] = {}


def register_recorder(name: str, recorder: Reactor,
                      wants: Callable[[str], bool] | None = None) -> None:
    _recorders[name] = recorder
    _recorder_wants.pop(name, None)
    if wants is not None:
        _recorder_wants[name] = wants


def recorders_want(kind: str) -> bool:
    """True when some recorder would write for an event of this kind: a writer that skips
    record_event (the lean span intake) must then leave the event to it."""
    return any(name not in _recorder_wants or _recorder_wants[name](kind) for name in _recorders)


def register_bulk_recorder(name: str, recorder: BulkRecorder) -> None:
    _bulk_recorders[name] = recorder


def recorded_in_bulk(project_id: int, created: list[tuple[int, str, int | None]]) -> None:
    """Called by bulk ingestion inside its transaction, once per batch."""
    for recorder in _bulk_recorders.values():
        recorder(project_id, created)


def publish_bulk(project_id: int, created: list[tuple[int, str, int | None]]) -> None:
    """For writers of many events at once (the events batch, the OTLP intake): the bulk
    recorders (the alert engine's queue) inside the transaction, and after commit one realtime
    message per agent (its newest event), not one per row."""
    from apps.realtime.publish import publish_event

    if not created:
        return
    recorded_in_bulk(project_id, created)
    newest: dict[int | None, tuple[int, str]] = {}
    for event_id, kind, agent_id in created:
        newest[agent_id] = (event_id, kind)

    def send() -> None:
        for agent_id, (event_id, kind) in newest.items():
            try:
                publish_event(event_id=event_id, kind=kind, project_id=project_id,
                              agent_id=agent_id)
            except Exception:  # a dead channel layer must not fail committed ingestion
                return

    transaction.on_commit(send)


def bump_version(row: models.Model) -> None:
    """F("version") + 1 on the row, and keep the in-memory copy in step."""
    type(row)._default_manager.filter(pk=row.pk).update(version=F("version") + 1)
    row.version = getattr(row, "version", 0) + 1


def record_event(
    kind: str,
    *,
    project: Any,
    agent: Any = None,
    task: Any = None,
    actor: Any = None,
    actor_label: str = "",
    data: dict[str, Any] | None = None,
    changed: models.Model | None = None,
    ts: Any = None,
    publish: bool = True,
    idempotency_key: str = "",
) -> AgentEvent:
    from apps.agents.models import AgentEvent

    if changed is not None:
        bump_version(changed)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    fields: dict[str, Any] = {}
    if ts is not None:
        fields["ts"] = ts
    if idempotency_key:  # in the INSERT itself: no second UPDATE of the row
        fields["idempotency_key"] = idempotency_key
    event = AgentEvent.objects.create(
        project=project,
        agent=agent,
        task=task,
        kind=kind,
        actor=actor,
        actor_label=actor_label or (actor.get_username() if actor else ""),
        data=data or {},
        **fields,
    )
    project_id = project.pk if hasattr(project, "pk") else int(project)
    agent_id = agent.pk if agent is not None else None
    for recorder in _recorders.values():
        recorder(event.pk, kind, project_id, agent_id)
    parent_id = getattr(agent, "parent_id", None)
    if publish:
        transaction.on_commit(
            lambda: after_commit(event.pk, kind, project_id, agent_id, parent_id)
        )
    return event


def after_commit(event_id: int, kind: str, project_id: int, agent_id: int | None,
                  parent_id: int | None = None) -> None:
    from apps.realtime.publish import publish_event

    try:
        publish_event(event_id=event_id, kind=kind, project_id=project_id, agent_id=agent_id,
                      parent_id=parent_id)
    except Exception:  # a dead channel layer must not fail the write that already committed
        logger.exception("publishing event %s failed", event_id)
    for name, reactor in list(_reactors.items()):
        try:
            reactor(event_id, kind, project_id, agent_id)
        except Exception:
            logger.exception("reactor %s failed for event %s", name, event_id)
