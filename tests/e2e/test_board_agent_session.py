"""A card delegated to Switchboard in Linear shows its agent session on the board, live: the
session event goes to the real platform, its worker routes the issue, and the open board's
card gains the session chip without a reload."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import platform_encrypt, screenshot
from tests.e2e.test_board import _connect_linear_through_the_page, fake  # noqa: F401
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_a_delegated_card_shows_its_session_live(live, page, owner, project,
                                                  fake, settings):  # noqa: F811
    from apps.agents.models import Agent
    from apps.linear.models import LinearIssue, LinearWorkflowState, RoutingRule, RoutingTarget
    from apps.linear.models_agent import LinearAgentSession, LinearAppInstall

    agent = Agent.objects.create(project=project, name="claude-1", status="idle")
    _connect_linear_through_the_page(live, page, owner, project, fake, settings)
    token, secret = "lin_oauth_board_token", "board-session-secret"
    fake.app_tokens.add(token)
    fake.webhooks.append({"id": "wh-s", "url": "", "secret": secret,
                          "resourceTypes": ["AgentSessionEvent"]})
    LinearAppInstall.objects.create(
        organization_id="org-1", organization_name="Acme Inc",
        access_token_encrypted=platform_encrypt(token), api_url=fake.url,
        webhook_secret_encrypted=platform_encrypt(secret))
    rule = RoutingRule.objects.create(name="delegated")
    RoutingTarget.objects.create(rule=rule, agent=agent, capacity=3)

    page.goto(f"{live.url}/board/?project={project.slug}")
    page.wait_for_selector("html[data-live-state=live]", timeout=15_000, state="attached")
    todo = LinearWorkflowState.objects.get(name="Todo")
    issue = LinearIssue.objects.filter(state=todo).order_by("id").first()
    assert "Linear agent" not in page.inner_text(f"#issue-{issue.pk}")

    session = fake.open_session(fake.issues_by_id[issue.linear_id])
    body = json.dumps(fake.session_event("created", session)).encode()
    r = requests.post(f"{live.url}/api/v1/linear/webhook", data=body,
                      headers=fake.signed(body, secret)[1], timeout=10)
    assert r.status_code == 200, r.text
    page.wait_for_selector(f"#issue-{issue.pk} >> text=Linear agent · working",
                           timeout=20_000)
    assert "claude-1" in page.inner_text(f"#issue-{issue.pk}")
    wait_for(lambda: fake.session_activities(session["id"]), timeout=15,
             message="the first activity in Linear")
    assert LinearAgentSession.objects.get(linear_id=session["id"]).agent == agent
    screenshot(page, "linear-board-agent-session")
