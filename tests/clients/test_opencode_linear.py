"""Switchboard as a Linear agent with the real OpenCode CLI: an issue delegated in the fake
Linear reaches an idle `opencode serve` session through the live platform (web, worker, beat)
as its next prompt; its answer comes back to Linear as the session's response, a human's reply
in Linear becomes its next prompt, and its permission prompt becomes an elicitation that a
reply in Linear decides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.agents.models import Agent, ApprovalRequest, TaskStatus, ToolSpan
from apps.linear.models import LinearIssue
from apps.linear.models_agent import LinearAgentSession, SessionState
from tests.clients.conftest import warm_up
from tests.clients.fake_openai import FakeOpenAI
from tests.clients.linear_support import (  # noqa: F401 (app_installed: a fixture)
    activities,
    app_installed,
    delegate,
    deliver,
    kinds,
)
from tests.clients.opencode_cli import OpenCode, bash, serve
from tests.conftest import make_key
from tests.linear.conftest import fake_linear, linear_conn, mapping, synced  # noqa: F401
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def idle_opencode(live: Any, project: Any, api: FakeOpenAI, tmp_path: Path,
                  **config: Any) -> OpenCode:
    key = make_key(project, "write")
    warm_up(live.url, key)
    return OpenCode(tmp_path, api.url, live.url, key, **config)


def responses(fake: Any, sid: str) -> list[str]:
    return [a["content"]["body"] for a in activities(fake, sid)
            if a["content"]["type"] == "response"]


def test_delegated_in_linear_done_by_opencode_and_a_reply_is_its_next_prompt(
        live, project, mapping, app_installed,  # noqa: F811 (fixtures imported above)
        fake_linear, api: FakeOpenAI, tmp_path: Path) -> None:  # noqa: F811
    opencode = idle_opencode(live, project, api, tmp_path)
    issue = LinearIssue.objects.filter(state__type__in=["backlog", "unstarted"]).first()
    marker = f"{issue.identifier} {issue.title}"
    reply = "Does shipped.txt also cover staging?"
    api.script(marker, [
        {"tools": [bash("echo shipped > shipped.txt", "ship")]},
        {"text": "Shipped: shipped.txt is in place."},
        {"text": "Yes: staging reads the same shipped.txt."},
    ])
    with serve(opencode) as oc:
        agent = wait_for(lambda: Agent.objects.filter(external_id=oc["id"]).first(),
                         timeout=30, message="the OpenCode session to be registered")
        session = delegate(live, fake_linear, agent, issue)
        sid = session["id"]
        first = activities(fake_linear, sid)[0]["content"]["body"]
        assert agent.name in first and f"/agents/{agent.pk}/" in first
        wait_for(lambda: kinds(fake_linear, sid)[-1:] == ["response"], timeout=60,
                 message="OpenCode's response in Linear")
        assert LinearAgentSession.objects.get(linear_id=sid).state == SessionState.COMPLETE

        # The task was OpenCode's prompt: the model saw the issue's title and description.
        prompt = json.dumps(api.chats(marker)[0]["messages"], ensure_ascii=False)
        assert issue.title in prompt and issue.description in prompt
        assert (opencode.cwd / "shipped.txt").read_text().strip() == "shipped"
        assert ToolSpan.objects.get(agent=agent, tool_name="bash").outcome == "ok"
        assert kinds(fake_linear, sid) == ["thought", "action", "response"]
        started = activities(fake_linear, sid)[1]["content"]
        assert started["action"] == "Started" and issue.title in started["parameter"]
        assert responses(fake_linear, sid) == ["Shipped: shipped.txt is in place."]

        # A human's reply in Linear is OpenCode's next prompt; its answer the next response.
        assert deliver(live, fake_linear, fake_linear.session_event(
            "prompted", session, body=reply)).status_code == 200
        wait_for(lambda: len(responses(fake_linear, sid)) == 2, timeout=60,
                 message="OpenCode's answer to the reply in Linear")
    last = api.chats(marker)[-1]["messages"]
    assert reply in json.dumps([m for m in last if m["role"] == "user"][-1], ensure_ascii=False)
    assert responses(fake_linear, sid)[-1] == "Yes: staging reads the same shipped.txt."
    assert kinds(fake_linear, sid) == ["thought", "action", "response",
                                      "thought", "action", "response"]
    assert "Passed your reply" in activities(fake_linear, sid)[3]["content"]["body"]
    assert LinearAgentSession.objects.get(linear_id=sid).state == SessionState.COMPLETE
    tasks = agent.tasks.filter(linear_issue_id=issue.linear_id).order_by("pk")
    assert [t.status for t in tasks] == [TaskStatus.COMPLETED] * 2
    assert tasks[1].result == "Yes: staging reads the same shipped.txt."


def test_permission_prompts_are_decided_by_replies_in_linear(
        live, project, mapping, app_installed,  # noqa: F811 (fixtures imported above)
        fake_linear, api: FakeOpenAI, tmp_path: Path) -> None:  # noqa: F811
    opencode = idle_opencode(live, project, api, tmp_path, permission={"bash": "ask"})
    issue = LinearIssue.objects.filter(state__type__in=["backlog", "unstarted"]).first()
    marker = f"{issue.identifier} {issue.title}"
    api.script(marker, [
        {"tools": [bash("touch built.txt", "build")]},
        {"tools": [bash("touch deployed.txt", "deploy")]},
        {"text": "Deployed."},
    ])
    with serve(opencode) as oc:
        agent = wait_for(lambda: Agent.objects.filter(external_id=oc["id"]).first(),
                         timeout=30, message="the OpenCode session to be registered")
        session = delegate(live, fake_linear, agent, issue)
        sid = session["id"]
        for n, (reply, command) in enumerate((("Allow", "touch built.txt"),
                                              ("Deny", "touch deployed.txt")), start=1):
            wait_for(lambda n=n: kinds(fake_linear, sid).count("elicitation") == n, timeout=60,
                     message=f"the prompt for {command} to become an elicitation")
            asked = [a["content"]["body"] for a in activities(fake_linear, sid)
                     if a["content"]["type"] == "elicitation"][-1]
            assert f"use bash: {command}" in asked
            assert LinearAgentSession.objects.get(linear_id=sid).state == \
                SessionState.AWAITING_INPUT
            assert deliver(live, fake_linear, fake_linear.session_event(
                "prompted", session, body=reply)).status_code == 200
            if reply == "Allow":
                wait_for(lambda: (opencode.cwd / "built.txt").exists(), timeout=30,
                         message="the allowed tool to run")
        wait_for(lambda: kinds(fake_linear, sid)[-1:] == ["response"], timeout=60,
                 message="the response in Linear")
    assert not (opencode.cwd / "deployed.txt").exists()
    decided = ApprovalRequest.objects.filter(agent=agent).order_by("pk")
    assert [a.status for a in decided] == ["allowed", "denied"]
    spans = ToolSpan.objects.filter(agent=agent, tool_name="bash").order_by("pk")
    assert [s.outcome for s in spans] == ["ok", "denied"]
    assert kinds(fake_linear, sid) == ["thought", "action", "elicitation", "thought",
                                      "elicitation", "thought", "response"]
    thoughts = [a["content"]["body"] for a in activities(fake_linear, sid)[3::2]]
    assert thoughts == ["Permission allowed by Ada Lovelace in Linear.",
                        "Permission denied by Ada Lovelace in Linear."]
    # A refused tool ends OpenCode's turn: the model is not asked again and the task is done
    # with no text of its own, so the response says why it stopped.
    assert len(api.chats(marker)) == 2
    assert responses(fake_linear, sid) == [
        f"{agent.name} stopped without finishing: permission to use bash was denied. "
        "Reply here with what it should do instead."]
    assert LinearAgentSession.objects.get(linear_id=sid).state == SessionState.COMPLETE
