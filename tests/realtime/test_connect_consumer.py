"""/ws/connect/: the "Connect an agent" page's status, live: waiting, then connected the moment
an agent of the project reports (an API event, or a plain heartbeat's pulse)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from apps.agents.models import Agent
from tests.realtime import seed
from tests.realtime.test_consumers import app, connect, receive_until, run, version_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_pulses():
    """Pulses are throttled per agent and process: start without an earlier test's."""
    from apps.realtime import publish

    publish._pulses.last.clear()
    yield
    publish._pulses.last.clear()


def opened_now() -> int:
    return int(timezone.now().timestamp() * 1000)


def test_it_turns_connected_when_an_agent_registers(viewer, project, other_project, api):
    async def scenario():
        comm = await connect(f"/ws/connect/?project=apollo&opened={opened_now()}", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert "is-waiting" in snapshot and "data-snapshot" in snapshot
        # Another project's agent changes nothing here.
        await sync_to_async(seed.agent)(other_project, "elsewhere")
        r = await sync_to_async(api.post)(
            "/api/v1/events",
            {"events": [{"type": "agent.register",
                         "data": {"name": "first-light", "kind": "codex", "external_id": "s-1"}}]},
            format="json",
        )
        assert r.status_code in (200, 201, 207), r.content
        delta = await receive_until(comm, "is-connected")
        assert "first-light" in delta and "Codex" in delta and "data-snapshot" not in delta
        assert "elsewhere" not in delta
        assert version_of(delta, "connect-status") > 0
        await comm.disconnect()

    run(scenario)


def test_a_plain_heartbeat_moves_it_too(viewer, project, api, fresh_pulses):
    a = seed.agent(project, "quiet")
    Agent.objects.filter(pk=a.pk).update(last_heartbeat_at=timezone.now().replace(year=2020))

    async def scenario():
        comm = await connect(f"/ws/connect/?project=apollo&opened={opened_now()}", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert "is-earlier" in snapshot and "quiet" in snapshot
        r = await sync_to_async(api.post)(f"/api/v1/agents/{a.pk}/heartbeat", {}, format="json")
        assert r.status_code == 200, r.content
        delta = await receive_until(comm, "is-connected", timeout=6)
        assert version_of(delta, "connect-status") > version_of(snapshot, "connect-status")
        await comm.disconnect()

    run(scenario)


def test_it_needs_one_known_project(viewer, project):
    async def scenario():
        for path in ("/ws/connect/", "/ws/connect/?project=nope"):
            comm = WebsocketCommunicator(app, path)
            comm.scope["user"] = viewer
            await comm.connect(timeout=5)
            assert (await comm.receive_output(timeout=5))["code"] == 4404

    run(scenario)
