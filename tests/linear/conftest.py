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
