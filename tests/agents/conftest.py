"""Agents test fixtures: registered agents and a controllable clock for the lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import make_key


class Clock:
    """The lifecycle takes `now` as a parameter; tests move this clock by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def advance(self, **delta: Any) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))  # a Wednesday


@pytest.fixture
def make_agent(project):
    from apps.agents.services import agent_register

    def make(name: str = "builder", *, project_=None, now=None, **kwargs: Any):
        agent, _ = agent_register(project=project_ or project, name=name, now=now, **kwargs)
        return agent

    return make


@pytest.fixture
def agent(make_agent):
    return make_agent("builder", kind="claude-code", external_id="sess-1", model="opus")


@pytest.fixture
def foreign_agent(other_project, make_agent):
    return make_agent("stranger", project_=other_project, external_id="sess-x")


@pytest.fixture
def read_api(read_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    return client


@pytest.fixture
def other_api(other_project) -> APIClient:
    """A write key of another project."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(other_project)}")
    return client


def schedule_data(timezone: str, *windows: tuple[str, str, str], extra: int = 1) -> dict[str, str]:
    """POST data of a sleep schedule form: the schedule, its windows and `extra` blank rows."""
    rows = [*windows, *[("", "", "")] * extra]
    data = {
        "schedule-timezone": timezone, "schedule-enabled": "on",
        "windows-TOTAL_FORMS": str(len(rows)), "windows-INITIAL_FORMS": "0",
        "windows-MIN_NUM_FORMS": "0", "windows-MAX_NUM_FORMS": "28",
    }
    for i, (day, start, end) in enumerate(rows):
        data |= {f"windows-{i}-weekday": day, f"windows-{i}-start": start, f"windows-{i}-end": end}
    return data
