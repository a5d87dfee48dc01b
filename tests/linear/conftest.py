"""Linear fixtures: a schema-executing fake Linear on loopback and a connection pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.linear.fake_linear import FakeLinear


@pytest.fixture
def fake_linear() -> Iterator[FakeLinear]:
    fake = FakeLinear().seed(issues=24, teams=1)
    with fake:
        yield fake


@pytest.fixture
def linear_conn(db, fake_linear, settings):
    """The stored connection (API key encrypted, API URL on the row) aimed at the fake."""
    from apps.linear import crypto
    from apps.linear.models import LinearConnection

    settings.LINEAR_API_KEY = ""
    settings.LINEAR_WEBHOOK_SECRET = ""
    conn = LinearConnection.get()
    conn.api_key_encrypted = crypto.encrypt(fake_linear.api_key)
    conn.api_url = fake_linear.url
    conn.save()
    return conn


@pytest.fixture
def synced(linear_conn, fake_linear):
    """A full sync done, and `project` mapped to the fake's first team."""
    from apps.linear import sync
    from apps.linear.client import connection_client
    from apps.linear.models import SyncKind

    run = sync.start_run(SyncKind.FULL)
    sync.full_sync(run, connection_client())
    return run


@pytest.fixture
def mapping(synced, project, fake_linear):
    from apps.linear.models import LinearTeam, ProjectMapping

    team = LinearTeam.objects.get(linear_id=fake_linear.teams[0]["id"])
    return ProjectMapping.objects.create(project=project, team=team)


@pytest.fixture
def linear_app(settings, fake_linear):
    """The fake's OAuth app credentials and endpoints in settings (no installation yet)."""
    base = fake_linear.url.removesuffix("/graphql")
    settings.LINEAR_OAUTH_CLIENT_ID = fake_linear.oauth_client_id
    settings.LINEAR_OAUTH_CLIENT_SECRET = fake_linear.oauth_client_secret
    settings.LINEAR_OAUTH_AUTHORIZE_URL = f"{base}/oauth/authorize"
    settings.LINEAR_OAUTH_TOKEN_URL = f"{base}/oauth/token"
    settings.LINEAR_API_URL = fake_linear.url
    return fake_linear


def install_via_oauth(client, fake) -> object:
    """The owner's round trip: Install → Linear's consent page → back with a code."""
    import requests

    from apps.linear.models_agent import LinearAppInstall

    start = client.post("/settings/integrations/linear/app/install/")
    assert start.status_code == 302, start.content
    consent = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert consent.status_code == 302, consent.text
    back = consent.headers["Location"]
    path = back[back.index("/settings/"):]
    done = client.get(path)
    assert done.status_code == 302 and done["Location"].endswith("/settings/integrations/linear/")
    return LinearAppInstall.objects.get()


@pytest.fixture
def installed(linear_app, owner, client):
    client.force_login(owner)
    return install_via_oauth(client, linear_app)


@pytest.fixture
def claude_pool(mapping, project):
    """One idle agent behind a rule for the issues labelled "agent"."""
    from apps.agents.models import Agent, AgentStatus
    from apps.linear.models import LinearLabel, RoutingRule, RoutingTarget

    agent = Agent.objects.create(project=project, name="claude-1", status=AgentStatus.IDLE)
    rule = RoutingRule.objects.create(name="agent label",
                                      label=LinearLabel.objects.get(name="agent"))
    RoutingTarget.objects.create(rule=rule, agent=agent, capacity=1)
    return rule, agent


def agent_issue(fake) -> dict:
    """A fake-Linear issue labelled "agent" in an open state (matches `claude_pool`'s rule)."""
    from apps.linear.models import LinearIssue

    local = LinearIssue.objects.filter(labels__name="agent",
                                       state__type__in=["backlog", "unstarted"]).order_by("id")[0]
    return fake.issues_by_id[local.linear_id]
