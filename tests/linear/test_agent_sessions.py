"""Linear agent sessions: delegation in, the agent's life out, replies back."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from apps.agents.models import AgentEvent, AgentStatus, AgentTask
from apps.linear.agent_sessions import MIRRORED_KINDS, actions_summarise, event_mirror
from apps.linear.models import DeliveryStatus, LinearIssue, WebhookDelivery
from apps.linear.models_agent import (
    LinearAgentActivity,
    LinearAgentSession,
    OutboxStatus,
    SessionState,
)
from apps.linear.session_outbox import outbox_sweep, session_flush
from apps.linear.webhooks import delivery_process
from tests.linear.conftest import agent_issue

URL = "/api/v1/linear/webhook"


def deliver(fake, payload, *, secret=None, delivery=None):
    """Sent like Linear sends it, then applied like the worker applies it."""
    body, headers = fake.signed(payload, secret if secret is not None
                                else fake.session_webhook()["secret"], delivery)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
             if k != "Content-Type"}
    response = Client().post(URL, data=body, content_type="application/json", **extra)
    row = WebhookDelivery.objects.filter(delivery_id=headers["Linear-Delivery"]).first()
    if row is not None and response.json().get("status") == "accepted":
        delivery_process(row.pk)
    return response, headers["Linear-Delivery"]


def mirror_all() -> None:
    """What the reactor's worker does for each event, in order."""
    for pk in AgentEvent.objects.filter(kind__in=MIRRORED_KINDS).order_by("id").values_list(
            "pk", flat=True):
        event_mirror(pk)


def flush(session: LinearAgentSession) -> int:
    return session_flush(session.pk)


def kinds(fake, sid) -> list[str]:
    return [a["content"]["type"] for a in fake.session_activities(sid)]


def test_delegation_routes_to_an_agent_and_says_so_first(installed, claude_pool, linear_app):
    rule, agent = claude_pool
    issue = agent_issue(linear_app)
    session = linear_app.open_session(issue)
    r, _ = deliver(linear_app, linear_app.session_event("created", session))
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    row = LinearAgentSession.objects.get(linear_id=session["id"])
    task = AgentTask.objects.get(linear_issue_id=issue["id"])
    assert row.agent == agent and row.task == task and row.state == SessionState.ACTIVE
    assert flush(row) >= 2
    first = linear_app.session_activities(session["id"])[0]
    assert first["content"]["type"] == "thought"
    assert "claude-1 took" in first["content"]["body"]
    assert f"/agents/{agent.pk}/" in first["content"]["body"]
    update = linear_app.session_updates[0]
    assert update["id"] == session["id"]
    assert update["input"]["externalUrls"][0]["url"].endswith(f"/agents/{agent.pk}/")
    ident = issue["identifier"]
    assert update["input"]["plan"] == [
        {"content": f"Hand {ident} to a Switchboard agent", "status": "completed"},
        {"content": f"claude-1 works on {ident}", "status": "inProgress"},
        {"content": "Post the result here", "status": "pending"}]


def test_the_whole_life_is_mirrored_in_order(installed, claude_pool, linear_app):
    from apps.agents.approvals import approval_request
    from apps.agents.services import task_complete

    rule, agent = claude_pool
    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get(linear_id=session["id"])
    approval, _ = approval_request(agent=agent, key="perm-1", tool_name="Bash",
                                   summary="rm -rf build/", input="{}", wait_seconds=60)
    mirror_all()
    assert LinearAgentSession.objects.get(pk=row.pk).state == SessionState.AWAITING_INPUT
    # The human answers the elicitation in Linear: the prompt is allowed.
    deliver(linear_app, linear_app.session_event("prompted", session, body="Allow"))
    approval.refresh_from_db()
    assert approval.status == "allowed" and "Ada Lovelace in Linear" in approval.message
    task_complete(task=AgentTask.objects.get(pk=row.task_id), result="Fixed the flaky test.")
    mirror_all()
    mirror_all()  # a repeated reaction mirrors nothing twice
    flush(row)
    assert kinds(linear_app, session["id"]) == [
        "thought", "action", "elicitation", "thought", "response"]
    acts = linear_app.session_activities(session["id"])
    assert "Bash" in acts[2]["content"]["body"] and "rm -rf build/" in acts[2]["content"]["body"]
    assert acts[3]["content"]["body"] == "Permission allowed by Ada Lovelace in Linear."
    assert acts[4]["content"]["body"] == "Fixed the flaky test."
    assert LinearAgentSession.objects.get(pk=row.pk).state == SessionState.COMPLETE


def test_a_denial_that_ends_the_task_says_so(installed, claude_pool, linear_app):
    from apps.agents.approvals import approval_request
    from apps.agents.services import task_complete

    rule, agent = claude_pool
    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get(linear_id=session["id"])
    approval_request(agent=agent, key="perm-1", tool_name="Bash", summary="terraform apply",
                     input="{}", wait_seconds=60)
    mirror_all()
    deliver(linear_app, linear_app.session_event("prompted", session, body="deny"))
    task_complete(task=AgentTask.objects.get(pk=row.task_id), result="")
    mirror_all()
    flush(row)
    acts = linear_app.session_activities(session["id"])
    assert acts[-2]["content"]["body"] == "Permission denied by Ada Lovelace in Linear."
    assert acts[-1]["content"] == {"type": "response", "body": (
        "claude-1 stopped without finishing: permission to use Bash was denied. Reply here "
        "with what it should do instead.")}


def test_a_reply_becomes_the_agents_next_instruction(installed, claude_pool, linear_app):
    rule, agent = claude_pool
    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    deliver(linear_app, linear_app.session_event(
        "prompted", session, body="Also add a regression test.\nKeep it small."))
    tasks = list(AgentTask.objects.filter(agent=agent).order_by("id"))
    assert len(tasks) == 2
    assert tasks[1].title.endswith("Also add a regression test.")
    assert "Keep it small." in tasks[1].description
    assert tasks[1].assigned_by == "Linear: Ada Lovelace"
    row = LinearAgentSession.objects.get(linear_id=session["id"])
    assert row.task_id == tasks[1].pk


def test_the_stop_signal_stops_the_agent(installed, claude_pool, linear_app):
    rule, agent = claude_pool
    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    deliver(linear_app, linear_app.session_event("prompted", session, body="", signal="stop"))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED
    assert agent.commands.filter(action="stop").exists()
    row = LinearAgentSession.objects.get(linear_id=session["id"])
    assert row.state == SessionState.STOPPED
    flush(row)
    assert kinds(linear_app, session["id"])[-1] == "response"


def test_replays_change_nothing(installed, claude_pool, linear_app):
    session = linear_app.open_session(agent_issue(linear_app))
    payload = linear_app.session_event("created", session)
    r1, delivery = deliver(linear_app, payload)
    r2, _ = deliver(linear_app, payload, delivery=delivery)
    assert r2.json()["status"] == "duplicate"
    deliver(linear_app, linear_app.session_event("created", session))  # a new delivery id
    assert LinearAgentSession.objects.count() == 1
    assert AgentTask.objects.count() == 1
    assert LinearAgentActivity.objects.filter(kind="thought").count() == 1


@pytest.mark.parametrize("bad", ["unsigned", "wrong_secret", "stale"])
def test_bad_deliveries_are_refused(installed, claude_pool, linear_app, bad):
    session = linear_app.open_session(agent_issue(linear_app))
    stamp = (time.time() - 600) * 1000 if bad == "stale" else None
    payload = linear_app.session_event("created", session, timestamp_ms=stamp)
    if bad == "unsigned":
        r = Client().post(URL, data=payload, content_type="application/json",
                          HTTP_LINEAR_DELIVERY="d-1")
        assert r.status_code == 400
    else:
        r, _ = deliver(linear_app, payload, secret="nope" if bad == "wrong_secret" else None)
        assert r.status_code == (401 if bad == "wrong_secret" else 400)
    assert not LinearAgentSession.objects.exists() and not WebhookDelivery.objects.exists()


def test_a_session_for_an_unknown_issue_says_why(installed, claude_pool, linear_app):
    session = linear_app.open_session(None, issue_id="issue-nobody-synced")
    session["issue"] = {"id": "issue-nobody-synced", "identifier": "OPS-9", "title": "?",
                        "url": "https://linear.app/x", "teamId": "t", "team": {}}
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    assert row.state == SessionState.ERROR and row.agent is None
    flush(row)
    (only,) = linear_app.session_activities(session["id"])
    assert only["content"]["type"] == "error" and "does not know OPS-9" in only["content"]["body"]


def test_no_matching_rule_is_an_error_with_the_way_out(installed, mapping, linear_app):
    session = linear_app.open_session(linear_app.issues[0])
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    flush(row)
    (only,) = linear_app.session_activities(session["id"])
    assert "No Switchboard routing rule matches" in only["content"]["body"]


def test_a_busy_pool_waits_then_the_freed_agent_takes_it(installed, claude_pool, linear_app):
    from apps.agents.services import task_complete
    from apps.linear.routing import assign_waiting

    rule, agent = claude_pool
    first = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", first))
    other = LinearIssue.objects.filter(labels__name="agent", state__type__in=[
        "backlog", "unstarted"]).order_by("id")[1]
    second = linear_app.open_session(linear_app.issues_by_id[other.linear_id])
    deliver(linear_app, linear_app.session_event("created", second))
    waiting = LinearAgentSession.objects.get(linear_id=second["id"])
    assert waiting.agent is None and waiting.state == SessionState.PENDING
    task_complete(task=AgentTask.objects.get(linear_issue_id=first["issueId"]), result="ok")
    assert assign_waiting() == 1
    mirror_all()
    waiting.refresh_from_db()
    assert waiting.agent == agent and waiting.state == SessionState.ACTIVE
    flush(waiting)
    bodies = [a["content"].get("body", "") for a in linear_app.session_activities(second["id"])]
    assert "busy" in bodies[0] and "claude-1 took" in bodies[1]


def test_linear_down_while_mirroring_loses_nothing_and_keeps_order(installed, claude_pool, linear_app):
    from apps.agents.services import task_complete

    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    linear_app.fail_next = 2
    assert flush(row) == 0  # Linear answered 500: the first activity waits, so do the others
    first = LinearAgentActivity.objects.filter(session=row).order_by("seq").first()
    assert first.status == OutboxStatus.PENDING and first.attempts == 1 and "500" in first.error
    task_complete(task=row.task, result="done")
    mirror_all()
    LinearAgentActivity.objects.filter(session=row).update(next_attempt_at=first.created_at)
    flush(row)  # the second 500
    LinearAgentActivity.objects.filter(session=row).update(next_attempt_at=first.created_at)
    assert outbox_sweep() == 1
    assert kinds(linear_app, session["id"]) == ["thought", "action", "response"]
    assert not LinearAgentActivity.objects.exclude(status=OutboxStatus.SENT).exists()


def test_a_lost_answer_is_not_posted_twice(installed, claude_pool, linear_app):
    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    flush(row)
    sent = len(linear_app.activities)
    # As if the answer to the first send never came back: the row is still pending.
    LinearAgentActivity.objects.filter(session=row).update(status=OutboxStatus.PENDING)
    flush(row)
    assert len(linear_app.activities) == sent
    assert not LinearAgentActivity.objects.exclude(status=OutboxStatus.SENT).exists()


def test_a_refused_activity_is_recorded_and_the_next_goes_out(installed, claude_pool, linear_app):
    from apps.linear.agent_sessions import activity_add

    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    activity_add(row, "action", {"action": "", "parameter": ""})  # Linear refuses it
    activity_add(row, "thought", {"body": "still here"})
    flush(row)
    refused = LinearAgentActivity.objects.get(status=OutboxStatus.REFUSED)
    assert "action content needs" in refused.error
    assert linear_app.session_activities(session["id"])[-1]["content"]["body"] == "still here"


def test_one_sender_per_session(installed, claude_pool, linear_app):
    from datetime import timedelta

    from django.utils import timezone

    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    LinearAgentSession.objects.filter(pk=row.pk).update(
        outbox_lease_until=timezone.now() + timedelta(seconds=30))
    assert flush(row) == 0 and not linear_app.activities


def test_tool_calls_are_summarised_not_mirrored_one_by_one(installed, claude_pool, linear_app):
    from datetime import timedelta

    from django.utils import timezone

    from apps.agents.models import ToolSpan

    rule, agent = claude_pool
    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    now = timezone.now() + timedelta(seconds=1)
    for i, tool in enumerate(["Edit", "Edit", "Bash", "Read", "Edit"]):
        ToolSpan.objects.create(project_id=agent.project_id, agent=agent, span_id=f"s{i}",
                                tool_name=tool, started_at=now, finished_at=now,
                                outcome="error" if tool == "Bash" else "ok")
    later = now + timedelta(seconds=1)
    assert actions_summarise(now=later) == 1
    assert actions_summarise(now=later) == 0
    flush(row)
    action = linear_app.session_activities(session["id"])[-1]["content"]
    assert action["type"] == "action" and action["parameter"].startswith("Edit ×3")
    assert action["result"] == "5 tool calls, 1 failed"


def test_an_event_for_a_workspace_not_installed_fails_the_delivery(installed, claude_pool, linear_app):
    session = linear_app.open_session(agent_issue(linear_app))
    payload = linear_app.session_event("created", session)
    payload["organizationId"] = "org-elsewhere"
    _, delivery = deliver(linear_app, payload)
    row = WebhookDelivery.objects.get(delivery_id=delivery)
    assert row.status == DeliveryStatus.FAILED and "not installed" in row.error


def test_the_agent_page_and_the_board_show_the_session(installed, claude_pool, linear_app, client,
                                                       owner):
    rule, agent = claude_pool
    issue = agent_issue(linear_app)
    session = linear_app.open_session(issue)
    deliver(linear_app, linear_app.session_event("created", session))
    client.force_login(owner)
    page = client.get(f"/agents/{agent.pk}/").content.decode()
    assert 'id="linear-session-link"' in page and session["url"] in page
    board = client.get("/board/").content.decode()
    assert "Linear agent · working" in board


def test_mirroring_paces_itself_and_never_runs_into_the_rate_limit(installed, claude_pool,
                                                                   linear_app):
    from apps.linear.agent_sessions import activity_add

    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    for i in range(6):
        activity_add(row, "thought", {"body": f"step {i}"})
    with linear_app.lock:
        linear_app.rate_limit = linear_app.rate_remaining = 5
        linear_app.rate_reset_at = time.time() + 120
    from apps.linear.app_install import install_client

    pauses: list[float] = []
    install_client(row.install).sleep = pauses.append  # the sender's own client: no real waits
    flush(row)
    assert not [r for r in linear_app.requests if r["limited"]]  # never a 429
    assert pauses, "the client never slowed down near the limit"
    waiting = LinearAgentActivity.objects.filter(status=OutboxStatus.PENDING).order_by("seq")
    assert waiting.exists() and "rate limit" in waiting[0].error.lower()
    assert (waiting[0].next_attempt_at - waiting[0].created_at).total_seconds() > 60


def test_a_closed_issue_is_not_handed_out(installed, claude_pool, linear_app):
    done = LinearIssue.objects.filter(state__type="completed").select_related("state").first()
    session = linear_app.open_session(linear_app.issues_by_id[done.linear_id])
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    assert row.state == SessionState.ERROR and not AgentTask.objects.exists()
    flush(row)
    (only,) = linear_app.session_activities(session["id"])
    assert f"{done.identifier} is {done.state.name} in Linear" in only["content"]["body"]


def test_a_question_becomes_an_elicitation_and_the_reply_unblocks(installed, claude_pool,
                                                                  linear_app):
    from apps.agents.services import agent_block

    rule, agent = claude_pool
    session = linear_app.open_session(agent_issue(linear_app))
    deliver(linear_app, linear_app.session_event("created", session))
    agent_block(agent=agent, reason="waiting for input: Which database should I use?")
    agent_block(agent=agent, reason="waiting for permission to use Bash: make")  # skipped
    mirror_all()
    row = LinearAgentSession.objects.get()
    assert row.state == SessionState.AWAITING_INPUT
    deliver(linear_app, linear_app.session_event("prompted", session, body="PostgreSQL."))
    agent.refresh_from_db()
    assert agent.status != AgentStatus.BLOCKED
    assert agent.tasks.filter(description__contains="PostgreSQL.").exists()
    mirror_all()
    flush(row)
    acts = linear_app.session_activities(session["id"])
    elicitations = [a for a in acts if a["content"]["type"] == "elicitation"]
    assert len(elicitations) == 1
    assert "Which database should I use?" in elicitations[0]["content"]["body"]
    assert LinearAgentSession.objects.get(pk=row.pk).state == SessionState.ACTIVE


def test_the_plan_follows_the_agents_own_todo_list(installed, claude_pool, linear_app):
    import json
    from datetime import timedelta

    from django.utils import timezone

    from apps.agents.models import ToolSpan
    from apps.agents.services import task_complete

    rule, agent = claude_pool
    issue = agent_issue(linear_app)
    session = linear_app.open_session(issue)
    deliver(linear_app, linear_app.session_event("created", session))
    row = LinearAgentSession.objects.get()
    now = timezone.now() + timedelta(seconds=1)

    def todo_call(i, todos, seconds=0):
        at = now + timedelta(seconds=seconds)
        ToolSpan.objects.create(project_id=agent.project_id, agent=agent, span_id=f"t{i}",
                                tool_name="TodoWrite", started_at=at, finished_at=at,
                                input=json.dumps({"todos": todos}), outcome="ok")

    todo_call(1, [{"content": "Find the bug", "status": "completed", "activeForm": "Finding"},
                  {"content": "Fix it", "status": "in_progress", "activeForm": "Fixing"},
                  {"content": "Run the tests", "status": "pending", "activeForm": "Running"}])
    ToolSpan.objects.create(project_id=agent.project_id, agent=agent, span_id="clipped",
                            tool_name="TodoWrite", started_at=now + timedelta(seconds=1),
                            finished_at=now + timedelta(seconds=1), input='{"todos": [{"con',
                            outcome="ok")  # clipped at 16 KB: the last good list stays
    assert actions_summarise(now=now + timedelta(seconds=2)) == 2  # the summary and the plan
    flush(row)
    ident = issue["identifier"]
    assert linear_app.agent_sessions[session["id"]]["plan"] == [
        {"content": f"Hand {ident} to a Switchboard agent", "status": "completed"},
        {"content": "Find the bug", "status": "completed"},
        {"content": "Fix it", "status": "inProgress"},
        {"content": "Run the tests", "status": "pending"},
        {"content": "Post the result here", "status": "pending"}]
    updates = len(linear_app.session_updates)
    todo_call(2, [{"content": "Find the bug", "status": "completed"},
                  {"content": "Fix it", "status": "in_progress"},
                  {"content": "Run the tests", "status": "pending"}], seconds=3)
    assert actions_summarise(now=now + timedelta(seconds=4)) == 1  # same list: no new plan
    flush(row)
    assert len(linear_app.session_updates) == updates

    task_complete(task=row.task, result="Fixed.")
    mirror_all()
    flush(row)
    assert kinds(linear_app, session["id"])[-1] == "response"
    assert [s["status"] for s in linear_app.agent_sessions[session["id"]]["plan"]] == [
        "completed", "completed", "inProgress", "pending", "completed"]


def test_a_stopped_session_cancels_what_was_left(installed, claude_pool, linear_app):
    rule, agent = claude_pool
    issue = agent_issue(linear_app)
    session = linear_app.open_session(issue)
    deliver(linear_app, linear_app.session_event("created", session))
    deliver(linear_app, linear_app.session_event("prompted", session, signal="stop"))
    flush(LinearAgentSession.objects.get())
    assert [s["status"] for s in linear_app.agent_sessions[session["id"]]["plan"]] == [
        "completed", "canceled", "canceled"]


@pytest.mark.parametrize("tool,data,steps", [
    ("todowrite", {"todos": [{"content": "a", "status": "cancelled", "priority": "high",
                              "id": "1"}]}, [{"content": "a", "status": "canceled"}]),
    ("update_plan", {"plan": [{"step": "b", "status": "in_progress"}, {"step": "  "}]},
     [{"content": "b", "status": "inProgress"}]),
    ("Bash", {"command": "ls"}, None),
    ("TodoWrite", {"todos": "not a list"}, None),
])
def test_todo_lists_of_each_client_become_plan_steps(tool, data, steps):
    import json

    from apps.linear.session_plan import todos_from_tool

    assert todos_from_tool(tool, json.dumps(data)) == steps
