"""The whole round trip through a real Celery worker: Linear delegates, the worker routes and
mirrors, the outbox posts to the fake Linear, replies come back — nothing called by hand."""

from __future__ import annotations

import time

from django.test import Client

from apps.agents.models import AgentTask
from apps.linear.models_agent import LinearAgentSession, SessionState
from tests.linear.conftest import agent_issue
from tests.linear.test_agent_sessions import URL
from tests.support import wait_for


def post(fake, payload) -> int:
    body, headers = fake.signed(payload, fake.session_webhook()["secret"])
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
             if k != "Content-Type"}
    return Client().post(URL, data=body, content_type="application/json", **extra).status_code


def kinds(fake, sid) -> list[str]:
    return [a["content"]["type"] for a in fake.session_activities(sid)]


def test_delegate_prompt_approve_complete(installed, claude_pool, linear_app, celery_worker):
    from apps.agents.approvals import approval_request
    from apps.agents.services import task_complete

    rule, agent = claude_pool
    session = linear_app.open_session(agent_issue(linear_app))
    started = time.monotonic()
    assert post(linear_app, linear_app.session_event("created", session)) == 200
    wait_for(lambda: kinds(linear_app, session["id"])[:1] == ["thought"], timeout=15,
             message="the first thought in the session")
    assert time.monotonic() - started < 10  # Linear marks a session stale after 10 s
    approval_request(agent=agent, key="p1", tool_name="Bash", summary="make deploy",
                     input="{}", wait_seconds=120)
    wait_for(lambda: "elicitation" in kinds(linear_app, session["id"]), timeout=15,
             message="the elicitation")
    assert post(linear_app, linear_app.session_event("prompted", session, body="deny")) == 200
    wait_for(lambda: agent.approvals.filter(status="denied").exists(), timeout=15,
             message="the prompt denied from Linear")
    row = LinearAgentSession.objects.get(linear_id=session["id"])
    task_complete(task=AgentTask.objects.get(pk=row.task_id), result="Shipped without deploy.")
    wait_for(lambda: kinds(linear_app, session["id"])[-1:] == ["response"], timeout=15,
             message="the response")
    assert kinds(linear_app, session["id"]) == [
        "thought", "action", "elicitation", "thought", "response"]
    assert LinearAgentSession.objects.get(pk=row.pk).state == SessionState.COMPLETE
