"""Remote approval through the API the hooks use, and Unblock answering a waiting prompt."""

from __future__ import annotations

import pytest

from apps.agents.models import AgentEvent, ApprovalRequest, ApprovalStatus
from apps.agents.services import agent_action, agent_set_status

pytestmark = pytest.mark.django_db


def ask(api, key="perm-1", **extra):
    body = {"agent_external_id": "sess-1", "key": key, "tool_name": "Bash",
            "summary": "rm -rf build/", "input": '{"command": "rm -rf build/"}',
            "wait_seconds": 60, **extra}
    return api.post("/api/v1/approvals", body, format="json")


def test_a_prompt_is_filed_once_polled_and_expired(api, agent):
    first = ask(api)
    assert first.status_code == 201 and first.json()["status"] == "pending"
    again = ask(api)  # the hook retried after a lost answer
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    pid = first.json()["id"]
    assert api.get(f"/api/v1/approvals/{pid}").json()["status"] == "pending"
    assert api.post(f"/api/v1/approvals/{pid}/expire", {}, format="json").json()["status"] \
        == "expired"
    assert ApprovalRequest.objects.get(pk=pid).status == ApprovalStatus.EXPIRED
    assert ask(api, key="").status_code == 400


def test_unblock_allows_the_prompt_the_agent_waits_on(api, agent, admin_user):
    agent_set_status(agent=agent, status="blocked", reason="waiting for permission to use Bash")
    pid = ask(api).json()["id"]
    agent_action(agent=agent, action="unblock", actor=admin_user)
    approval = ApprovalRequest.objects.get(pk=pid)
    assert approval.status == ApprovalStatus.ALLOWED and approval.decided_by == admin_user
    assert "unblocked" in approval.message
    assert api.get(f"/api/v1/approvals/{pid}").json()["status"] == "allowed"  # the hook's poll
    agent.refresh_from_db()
    assert agent.status != "blocked"
    assert AgentEvent.objects.filter(kind="approval.decided", agent=agent).count() == 1


def test_unblock_without_a_waiting_prompt_only_releases(agent, admin_user):
    agent_set_status(agent=agent, status="blocked", reason="needs a token")
    agent_action(agent=agent, action="unblock", actor=admin_user)
    assert not AgentEvent.objects.filter(kind="approval.decided").exists()
    agent.refresh_from_db()
    assert agent.status != "blocked"
