"""Linear agent sessions in, the coding agent's life out.

In: `AgentSessionEvent` webhooks (stored and deduplicated like every Linear delivery, applied
by a worker). `created` routes the issue to a Switchboard agent with the routing rules and
answers with a first `thought` naming the agent and linking its page; `prompted` hands a
human's reply to the agent (its next instruction, or the answer to a permission prompt), and
the `stop` signal stops it.

Out: the agent's events become activities in the session's outbox (apps.linear.session_outbox
sends them in order): task started → action, permission prompt → elicitation, error → error,
completed → response. Tool calls are summarised at most once per
LINEAR_AGENT_ACTION_INTERVAL_SECONDS by a beat task, never one activity per call. The session's
external link and plan (apps.linear.session_plan) go out through the same outbox.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from apps.core.links import absolute_url
from apps.linear.models import LinearIssue
from apps.linear.models_agent import (
    ActivityKind,
    LinearAgentActivity,
    LinearAgentSession,
    LinearAppInstall,
    SessionState,
)
from apps.linear.session_plan import session_plan, todos_from_tool

logger = logging.getLogger(__name__)

ALLOW_WORDS = {"allow", "yes", "approve", "approved", "ok", "go ahead", "y"}
DENY_WORDS = {"deny", "no", "reject", "rejected", "n", "stop"}
OPEN_STATES = (SessionState.PENDING, SessionState.ACTIVE, SessionState.AWAITING_INPUT)
FINAL_STATES = (SessionState.COMPLETE, SessionState.ERROR, SessionState.STOPPED)
LINEAR_LABEL = "Linear: "  # the actor label of a person answering in Linear


def _in_linear(label: str) -> str:
    """A person answering in Linear, labelled `Linear: Ada Lovelace`, as `Ada Lovelace in
    Linear`; any other label as it is."""
    return f"{label.removeprefix(LINEAR_LABEL)} in Linear" if label.startswith(LINEAR_LABEL) \
        else label


def agent_link(agent_id: int) -> str:
    return absolute_url(reverse("agent-detail", args=[agent_id]))


# --- the outbox ---------------------------------------------------------------------------------
def activity_add(session: LinearAgentSession, kind: str, content: dict[str, Any], *,
                 source_event_id: int | None = None, ephemeral: bool = False
                 ) -> LinearAgentActivity | None:
    """Queue one activity after the session's last one; sent after commit. The same event
    mirrored twice (a retried reaction) queues nothing the second time."""
    LinearAgentSession.objects.select_for_update().filter(pk=session.pk).first()
    if source_event_id is not None and LinearAgentActivity.objects.filter(
            session=session, source_event_id=source_event_id, kind=kind).exists():
        return None
    seq = (LinearAgentActivity.objects.filter(session=session).aggregate(m=Max("seq"))["m"]
           or 0) + 1
    try:
        with transaction.atomic():
            activity = LinearAgentActivity.objects.create(
                session=session, seq=seq, kind=kind, content=content, ephemeral=ephemeral,
                source_event_id=source_event_id)
    except IntegrityError:  # another worker mirrored the same event a moment ago
        return None
    session_id = session.pk

    def flush() -> None:
        from apps.core.queueing import enqueue
        from apps.linear.tasks import session_flush

        enqueue(session_flush, session_id, recovered_by="the outbox sweep")

    transaction.on_commit(flush)
    return activity


def _set_state(session: LinearAgentSession, state: str, **fields: Any) -> None:
    # The plan changes when the session ends, or starts again (a reply after the end).
    turned = state != session.state and (state in FINAL_STATES or session.state in FINAL_STATES)
    session.state = state
    for key, value in fields.items():
        setattr(session, key, value)
    LinearAgentSession.objects.filter(pk=session.pk).update(state=state, updated_at=timezone.now(),
                                                            **fields)
    if turned and session.agent_id is not None:
        plan_update(session)
    if session.issue_id:  # the board shows delegated cards with their session state
        from apps.core.events import bump_version
        from apps.linear.announce import issues_announce

        issue = LinearIssue.objects.filter(pk=session.issue_id).first()
        if issue is not None:
            bump_version(issue)
            issues_announce([(issue.pk, "updated")])


def plan_update(session: LinearAgentSession, **extra: Any) -> None:
    """Queue the session's whole plan (Linear replaces it), with any other session fields."""
    from apps.agents.models import Agent

    name = (Agent.objects.filter(pk=session.agent_id).values_list("name", flat=True).first()
            if session.agent_id else "") or ""
    activity_add(session, ActivityKind.SESSION_UPDATE,
                 {**extra, "plan": session_plan(session, name)})


def _thought(session: LinearAgentSession, body: str, **kw: Any) -> None:
    activity_add(session, ActivityKind.THOUGHT, {"body": body}, **kw)


# --- sessions in --------------------------------------------------------------------------------
def event_apply(payload: dict[str, Any]) -> str:
    """Apply one AgentSessionEvent delivery (inside the delivery's transaction). Returns what
    was done, for the delivery log. Raises ValueError for a workspace Switchboard is not
    installed in (the delivery is marked failed with that reason)."""
    org = str(payload.get("organizationId") or "")
    install = LinearAppInstall.objects.filter(organization_id=org).first()
    if install is None:
        raise ValueError(f"Switchboard is not installed as an app in workspace {org or '?'}")
    data = payload.get("agentSession")
    if not isinstance(data, dict) or not data.get("id"):
        raise ValueError("AgentSessionEvent without agentSession.id")
    action = payload.get("action")
    if action == "created":
        return _session_created(install, data, payload)
    if action == "prompted":
        return _session_prompted(install, data, payload)
    return f"ignored action {action!r}"


def _session_created(install: LinearAppInstall, data: dict[str, Any],
                     payload: dict[str, Any]) -> str:
    issue_data = data.get("issue") if isinstance(data.get("issue"), dict) else {}
    issue_id = str(data.get("issueId") or issue_data.get("id") or "")
    creator = data.get("creator") if isinstance(data.get("creator"), dict) else {}
    session, created = LinearAgentSession.objects.get_or_create(
        linear_id=str(data["id"])[:64],
        defaults={
            "install": install,
            "issue_linear_id": issue_id[:64],
            "issue_identifier": str(issue_data.get("identifier") or "")[:32],
            "url": str(data.get("url") or "")[:500],
            "creator_name": str(creator.get("name") or "")[:200],
            "prompt_context": str(payload.get("promptContext") or "")[:20000],
        })
    if not created:
        return "duplicate session"
    issue = LinearIssue.objects.filter(linear_id=issue_id).select_related("state").first() \
        if issue_id else None
    if issue is None:
        name = session.issue_identifier or "this issue"
        activity_add(session, ActivityKind.ERROR, {"body": (
            f"Switchboard does not know {name}: map its Linear team to a Switchboard project "
            "(Settings → Linear) and let the sync bring it in, then delegate it again.")})
        _set_state(session, SessionState.ERROR)
        return "unknown issue"
    _set_state(session, SessionState.PENDING, issue=issue)
    return _route(session, issue)


def _route(session: LinearAgentSession, issue: LinearIssue) -> str:
    from apps.linear import routing

    if not routing.routable(issue):
        where = (f"{issue.state.name} in Linear" if issue.state_id and issue.is_visible
                 else "archived or deleted in Linear")
        activity_add(session, ActivityKind.ERROR, {"body": (
            f"{issue.identifier} is {where}: Switchboard only hands open issues to agents. "
            "Reopen it, then delegate it again.")})
        _set_state(session, SessionState.ERROR)
        return "closed issue"
    task = routing.open_task_for(issue)
    if task is None:
        task = routing.issue_route(issue=issue)
    if task is not None:
        session_task_attach(session=session, task=task)
        return "routed"
    issue.refresh_from_db(fields=["route_waiting_since", "route_rule"])
    if issue.route_waiting_since is not None:
        rule = issue.route_rule.name if issue.route_rule_id else "its routing rule"
        _thought(session, f"Every agent of “{rule}” is busy; {issue.identifier} waits for the "
                          "next one that frees up.")
        return "waiting"
    activity_add(session, ActivityKind.ERROR, {"body": (
        f"No Switchboard routing rule matches {issue.identifier}. Add one (Settings → Linear "
        "→ Routing rules) or assign the issue to an agent from the board, then delegate again.")})
    _set_state(session, SessionState.ERROR)
    return "no rule"


def session_task_attach(*, session: LinearAgentSession, task: Any,
                        source_event_id: int | None = None) -> bool:
    """The session's work is this task: say who took it and link the agent's page. Once."""
    from apps.agents.models import AgentEvent

    # Mirror this task's events from its assignment on, nothing of the agent's past.
    assigned = AgentEvent.objects.filter(task=task, kind="task.assigned").order_by("pk") \
        .values_list("pk", flat=True).first()
    cursor = assigned or (AgentEvent.objects.filter(agent_id=task.agent_id).order_by("-pk")
                          .values_list("pk", flat=True).first() or 0)
    claimed = LinearAgentSession.objects.filter(pk=session.pk).exclude(task=task).update(
        task=task, agent_id=task.agent_id, state=SessionState.ACTIVE, updated_at=timezone.now(),
        mirrored_event_id=cursor)
    if not claimed:
        return False
    session.task, session.agent_id, session.state = task, task.agent_id, SessionState.ACTIVE
    link = agent_link(task.agent_id)
    name = task.agent.name if task.agent_id else "An agent"
    _thought(session, f"{name} took {session.issue_identifier or 'this issue'} (Switchboard task "
                      f"{task.pk}). Follow it live: {link}", source_event_id=source_event_id)
    plan_update(session, externalUrls=[{"label": f"{name} in Switchboard", "url": link}])
    return True


def _decision(body: str) -> str | None:
    words = re.sub(r"[^\w\s]", " ", body.lower()).split()
    text = " ".join(words)
    if text in ALLOW_WORDS or (words and words[0] in {"allow", "approve", "yes"}):
        return "allow"
    if text in DENY_WORDS or (words and words[0] in {"deny", "reject", "no"}):
        return "deny"
    return None


def _session_prompted(install: LinearAppInstall, data: dict[str, Any],
                      payload: dict[str, Any]) -> str:
    session = (LinearAgentSession.objects.select_related("agent", "issue")
               .filter(linear_id=str(data["id"])).first())
    if session is None:  # prompted before we saw it created (Linear retries out of order)
        _session_created(install, data, payload)
        session = LinearAgentSession.objects.select_related("agent", "issue").get(
            linear_id=str(data["id"]))
    activity = payload.get("agentActivity") if isinstance(payload.get("agentActivity"),
                                                            dict) else {}
    user = activity.get("user") if isinstance(activity.get("user"), dict) else {}
    who = f"{LINEAR_LABEL}{user.get('name') or 'someone'}"[:150]
    content = activity.get("content") if isinstance(activity.get("content"), dict) else {}
    body = str(content.get("body") or "").strip()
    agent = session.agent
    if activity.get("signal") == "stop":
        if agent is not None:
            from apps.agents.models import CommandAction
            from apps.agents.services import agent_action

            agent_action(agent=agent, action=CommandAction.STOP, actor_label=who,
                         reason="stop signal from Linear")
        activity_add(session, ActivityKind.RESPONSE, {"body": (
            f"Stopped {agent.name} as asked." if agent else "Stopped: nothing was running.")})
        _set_state(session, SessionState.STOPPED)
        return "stopped"
    if agent is None:
        if session.issue is None:
            return "no agent"
        return _route(session, session.issue)
    from apps.agents.approvals import approval_decide, pending_approval

    waiting = pending_approval(agent.pk)
    decision = _decision(body) if waiting is not None else None
    if waiting is not None and decision is not None:
        from django.core.exceptions import ValidationError

        try:
            approval_decide(approval=waiting, decision=decision, actor=None, actor_label=who,
                            message=f"{'Allowed' if decision == 'allow' else 'Denied'} by "
                                    f"{_in_linear(who)}")
        except ValidationError:
            _thought(session, "That prompt was already answered.")
            return "late decision"
        _set_state(session, SessionState.ACTIVE)
        return f"approval {decision}"
    if not body:
        return "empty prompt"
    from apps.agents.models import AgentStatus, CommandAction
    from apps.agents.services import agent_action, task_assign

    if agent.status == AgentStatus.BLOCKED:  # it asked something: the reply is the answer
        agent_action(agent=agent, action=CommandAction.UNBLOCK, actor_label=who,
                     reason="answered in Linear")

    identifier = session.issue_identifier or "the issue"
    task = task_assign(agent=agent, title=f"{identifier}: {body.splitlines()[0]}"[:300],
                       description=f"A reply in Linear on {identifier}:\n\n{body}",
                       linear_issue_id=session.issue_linear_id, actor_label=who)
    LinearAgentSession.objects.filter(pk=session.pk).update(task=task)
    _thought(session, f"Passed your reply to {agent.name} as its next instruction.")
    _set_state(session, SessionState.ACTIVE)
    return "reply delivered"


# --- the agent's life out -----------------------------------------------------------------------
MIRRORED_KINDS = {"task.assigned", "task.started", "task.completed", "task.failed",
                  "task.cancelled", "approval.requested", "approval.decided", "agent.error",
                  "agent.blocked", "agent.unblocked"}
# A permission prompt blocks the agent too; its approval.requested says more, once.
PERMISSION_REASON = "waiting for permission"


@transaction.atomic
def event_mirror(event_id: int) -> int:
    """Mirror the events of the agents concerned into their open sessions. Returns activities
    queued. Workers may run these out of order; each session is mirrored under its row lock
    from its own cursor, in event id order, so the activities keep the order things happened."""
    from apps.agents.models import AgentEvent

    event = AgentEvent.objects.select_related("task__agent").filter(pk=event_id).first()
    if event is None or event.kind not in MIRRORED_KINDS or event.agent_id is None:
        return 0
    queued = 0
    if event.kind == "task.assigned" and event.task is not None:
        # A session that waited for a free agent: this is its task.
        issue_id = (event.data or {}).get("linear_issue_id") or ""
        for session in LinearAgentSession.objects.filter(
                state__in=OPEN_STATES, issue_linear_id=issue_id, task__isnull=True) \
                if issue_id else []:
            queued += session_task_attach(session=session, task=event.task,
                                          source_event_id=event.pk)
    for session_id in LinearAgentSession.objects.filter(
            state__in=OPEN_STATES, agent_id=event.agent_id).values_list("pk", flat=True):
        queued += _mirror_session(session_id)
    return queued


def _mirror_session(session_id: int) -> int:
    from apps.agents.models import AgentEvent

    session = LinearAgentSession.objects.select_for_update().filter(pk=session_id).first()
    if session is None or session.agent_id is None:
        return 0
    events = list(AgentEvent.objects.filter(
        agent_id=session.agent_id, pk__gt=session.mirrored_event_id,
        kind__in=MIRRORED_KINDS - {"task.assigned"}).select_related("task", "agent")
        .order_by("pk")[:200])
    queued = 0
    for event in events:
        if session.state not in OPEN_STATES:
            break
        if event.kind.startswith("task.") and (
                event.task is None or event.task.linear_issue_id != session.issue_linear_id):
            continue  # another task of the same agent
        queued += _mirror_one(session, event)
    if events:
        LinearAgentSession.objects.filter(pk=session.pk).update(mirrored_event_id=events[-1].pk)
    return queued


def _mirror_one(session: LinearAgentSession, event: Any) -> int:
    kind, data = event.kind, event.data or {}
    agent_name = event.agent.name if event.agent else "The agent"
    if kind == "task.started":
        added = activity_add(session, ActivityKind.ACTION, {
            "action": "Started", "parameter": (event.task.title if event.task else "")[:200]},
            source_event_id=event.pk)
    elif kind == "task.completed":
        result = str(data.get("result") or "").strip() or _no_result(event, agent_name)
        added = activity_add(session, ActivityKind.RESPONSE, {"body": result[:6000]},
                             source_event_id=event.pk)
        _set_state(session, SessionState.COMPLETE)
    elif kind in ("task.failed", "task.cancelled"):
        reason = str(data.get("error") or "").strip() or (
            "The task was cancelled in Switchboard." if kind == "task.cancelled"
            else "The task failed.")
        added = activity_add(session, ActivityKind.ERROR, {"body": reason[:6000]},
                             source_event_id=event.pk)
        _set_state(session, SessionState.ERROR)
    elif kind == "approval.requested":
        tool = data.get("tool_name") or "a tool"
        summary = str(data.get("summary") or "").strip()
        added = activity_add(session, ActivityKind.ELICITATION, {"body": (
            f"{agent_name} waits for permission to use {tool}"
            + (f": {summary}" if summary else "") + ".\n\nReply **allow** or **deny** here, or "
            "answer on the agent's Switchboard page.")[:6000]}, source_event_id=event.pk)
        _set_state(session, SessionState.AWAITING_INPUT)
    elif kind == "approval.decided":
        decision = data.get("decision") or "decided"
        who = _in_linear(event.actor_label or "")
        added = activity_add(session, ActivityKind.THOUGHT, {
            "body": f"Permission {decision}" + (f" by {who}" if who else "") + "."},
            source_event_id=event.pk)
        _set_state(session, SessionState.ACTIVE)
    elif kind == "agent.blocked":
        reason = str(data.get("reason") or "").strip()
        if reason.startswith(PERMISSION_REASON):
            return 0
        added = activity_add(session, ActivityKind.ELICITATION, {"body": (
            f"{agent_name} is blocked" + (f": {reason}" if reason else "") + ".\n\nReply here "
            "to answer it: the reply unblocks the agent and becomes its next instruction.")[:6000]},
            source_event_id=event.pk)
        _set_state(session, SessionState.AWAITING_INPUT)
    elif kind == "agent.unblocked":
        if session.state == SessionState.AWAITING_INPUT:
            _set_state(session, SessionState.ACTIVE)
        return 0
    else:  # agent.error: worth knowing, not the end of the session
        added = activity_add(session, ActivityKind.ERROR, {
            "body": str(data.get("message") or "The agent reported an error.")[:6000]},
            source_event_id=event.pk)
    return int(added is not None)


def _no_result(event: Any, agent_name: str) -> str:
    """What a completion without a result says: why it stopped when a permission it asked for
    during the task was denied (a client may end its turn there without another word)."""
    from apps.agents.models import AgentEvent, ApprovalStatus

    task = event.task
    decided = (AgentEvent.objects.filter(
        agent_id=event.agent_id, kind="approval.decided", pk__lt=event.pk,
        ts__gte=task.started_at or task.created_at).order_by("-pk").values_list("data", flat=True)
        .first() if task is not None else None) or {}
    if decided.get("decision") == ApprovalStatus.DENIED:
        tool = decided.get("tool_name") or "a tool"
        return (f"{agent_name} stopped without finishing: permission to use {tool} was denied. "
                "Reply here with what it should do instead.")
    return "Done."


def reactor(event_id: int, kind: str, project_id: int, agent_id: int | None) -> None:
    """Registered with apps.core.events: enqueue only, and only for the kinds mirrored."""
    # Mirrored kinds are the rare ones (tasks, prompts, errors): one indexed look at a tiny
    # table, asked every time, so an installation made in another process counts at once.
    if kind not in MIRRORED_KINDS or not LinearAppInstall.objects.exists():
        return
    from apps.core.queueing import enqueue
    from apps.linear.tasks import session_mirror

    enqueue(session_mirror, event_id, recovered_by="nothing (a lost mirror is not retried)")


def actions_summarise(now: datetime | None = None) -> int:
    """Beat: one `action` per active session for the tool calls finished since its last
    summary ("Edit ×3, Bash ×2"), and the plan again when the agent changed its to-do list.
    Returns activities queued."""
    from apps.agents.models import ToolSpan

    now = now or timezone.now()
    queued = 0
    sessions = list(LinearAgentSession.objects.filter(
        state=SessionState.ACTIVE, agent__isnull=False, task__isnull=False))
    for session in sessions:
        since = session.last_action_at or session.created_at
        spans = list(ToolSpan.objects.filter(
            agent_id=session.agent_id, finished_at__gt=since, finished_at__lte=now)
            .order_by("finished_at").values("tool_name", "outcome", "input")[:500])
        if not spans:
            continue
        counts = Counter(s["tool_name"] or "tool" for s in spans)
        errors = sum(1 for s in spans if s["outcome"] == "error")
        parts = ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in counts.most_common(6))
        with transaction.atomic():
            claimed = LinearAgentSession.objects.filter(
                pk=session.pk, last_action_at=session.last_action_at).update(last_action_at=now)
            if not claimed:
                continue
            result = f"{len(spans)} tool call{'s' if len(spans) != 1 else ''}" + (
                f", {errors} failed" if errors else "")
            added = activity_add(session, ActivityKind.ACTION, {
                "action": "Used tools", "parameter": parts[:200], "result": result})
            queued += added is not None
            todos = next((t for t in (todos_from_tool(s["tool_name"], s["input"])
                                      for s in reversed(spans)) if t is not None), None)
            if todos is not None and todos != session.plan_todos:
                session.plan_todos = todos
                LinearAgentSession.objects.filter(pk=session.pk).update(plan_todos=todos)
                plan_update(session)
                queued += 1
    return queued


def due_interval() -> int:
    return settings.LINEAR_AGENT_ACTION_INTERVAL_SECONDS
