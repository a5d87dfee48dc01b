"""What the real-CLI Linear agent tests share: the app installed in the fake Linear, a signed
AgentSessionEvent delivered to the live platform, and the session's activities as Linear shows
them. Import the fixture into the test module (`from tests.clients.linear_support import
app_installed`) next to the Linear fixtures of tests.linear.conftest."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from apps.agents.models import Agent
from apps.linear.models import LinearIssue, RoutingRule, RoutingTarget
from apps.linear.models_agent import LinearAppInstall
from tests.conftest import platform_encrypt
from tests.support import wait_for


@pytest.fixture
def app_installed(fake_linear: Any) -> tuple[LinearAppInstall, str]:
    """The app as installed by an owner: the token the fake Linear issued, the session
    webhook's secret, the API at the fake (install.api_url)."""
    token, secret = "lin_oauth_e2e_token", "session-webhook-secret-e2e"
    fake_linear.app_tokens.add(token)
    fake_linear.webhooks.append({"id": "wh-sessions", "url": "", "secret": secret,
                                 "resourceTypes": ["AgentSessionEvent"]})
    install = LinearAppInstall.objects.create(
        organization_id="org-1", organization_name="Acme Inc", app_user_id="viewer-1",
        access_token_encrypted=platform_encrypt(token), api_url=fake_linear.url,
        webhook_secret_encrypted=platform_encrypt(secret))
    return install, secret


def deliver(live: Any, fake: Any, payload: dict[str, Any]) -> requests.Response:
    """The AgentSessionEvent, signed with the session webhook's secret, posted to the platform."""
    body = json.dumps(payload).encode()
    headers = fake.signed(body, fake.session_webhook()["secret"])[1]
    return requests.post(f"{live.url}/api/v1/linear/webhook", data=body, headers=headers,
                         timeout=10)


def activities(fake: Any, sid: str) -> list[dict[str, Any]]:
    # Tool-call summaries depend on when beat runs: the order of the rest is the contract.
    return [a for a in fake.session_activities(sid)
            if a["content"].get("action") != "Used tools"]


def kinds(fake: Any, sid: str) -> list[str]:
    return [a["content"]["type"] for a in activities(fake, sid)]


def delegate(live: Any, fake: Any, agent: Agent,
             issue: LinearIssue) -> dict[str, Any]:
    """The issue routed to `agent` by a rule, delegated in Linear: the created session."""
    rule = RoutingRule.objects.create(name="delegated in Linear")
    RoutingTarget.objects.create(rule=rule, agent=agent, capacity=1)
    opened = fake.open_session(fake.issues_by_id[issue.linear_id])
    delegated = time.monotonic()
    assert deliver(live, fake, fake.session_event("created", opened)
                   ).status_code == 200
    wait_for(lambda: kinds(fake, opened["id"])[:1] == ["thought"], timeout=30,
             message="the first thought in Linear")
    assert time.monotonic() - delegated < 10, "Linear would show the session as stale"
    return opened
