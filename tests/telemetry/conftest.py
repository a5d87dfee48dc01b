"""Telemetry fixtures: an agent to record usage for, and a clean price cache per test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_price_cache():
    from apps.telemetry.prices import forget_overrides

    forget_overrides()
    yield
    forget_overrides()


@pytest.fixture(autouse=True)
def _no_lag(settings):
    """Rollups read rows the moment they are written (a test's rows are committed or visible
    at once; the lag is for concurrent writers in production)."""
    settings.TELEMETRY_ROLLUP_LAG_SECONDS = 0


@pytest.fixture
def now():
    from django.utils import timezone

    return timezone.now()


@pytest.fixture
def agent(project):
    from apps.agents.services import agent_register

    agent, _ = agent_register(
        project=project,
        name="builder",
        kind="claude-code",
        external_id="sess-1",
        model="claude-sonnet-4-5",
    )
    return agent


@pytest.fixture
def make_sub(agent):
    from apps.agents.services import agent_register

    def make(name: str = "helper"):
        sub, _ = agent_register(
            project=agent.project,
            name=name,
            parent=agent,
            external_id=f"{agent.external_id}/{name}",
        )
        return sub

    return make
