"""The live-page consumers through Channels' WebsocketCommunicator, on the configured channel
layer (in-memory embedded, Redis with REDIS_URL)."""

from __future__ import annotations

import asyncio
import html
import json
import re
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from apps.realtime.consumers import render_cache
from apps.realtime.routing import websocket_urlpatterns
from tests.realtime import seed

pytestmark = pytest.mark.django_db(transaction=True)

app = URLRouter(websocket_urlpatterns)


def run(scenario: Any) -> None:
    async_to_sync(scenario)()


async def connect(path: str, user: Any) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(app, path)
    comm.scope["user"] = user
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


async def receive_until(comm: WebsocketCommunicator, needle: str, timeout: float = 3.0) -> str:
    """Frames until one contains `needle` (a delta may follow unrelated ones)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"no frame with {needle!r}")
        frame = await comm.receive_from(timeout=left)
        if needle in frame:
            return frame


def version_of(html: str, element_id: str) -> int:
    m = re.search(rf'id="{re.escape(element_id)}"[^>]*data-version="(\d+)"', html)
    assert m, f"{element_id} not in {html[:300]}"
    return int(m.group(1))


def test_it_refuses_anonymous_users():
    async def scenario():
        comm = WebsocketCommunicator(app, "/ws/overview/")
        comm.scope["user"] = AnonymousUser()
        connected, _ = await comm.connect(timeout=5)
        assert connected  # accepted, then closed with a reason the page can read
        out = await comm.receive_output(timeout=5)
        assert out == {"type": "websocket.close", "code": 4401}

    run(scenario)


def test_it_refuses_signed_in_users_without_a_role(outsider):
    async def scenario():
        comm = WebsocketCommunicator(app, "/ws/activity/")
        comm.scope["user"] = outsider
        await comm.connect(timeout=5)
        assert (await comm.receive_output(timeout=5))["code"] == 4403

    run(scenario)


def test_it_sends_a_snapshot_on_join(viewer, project):
    a = seed.agent(project, "fixer", status="blocked", reason="needs approval")

    async def scenario():
        comm = await connect("/ws/overview/?project=apollo", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert 'id="ov-counts"' in snapshot and "data-snapshot" in snapshot
        assert f'id="agent-{a.pk}"' in snapshot and "needs approval" in snapshot
        await comm.disconnect()

    run(scenario)


def test_it_pushes_a_delta_after_an_api_write(viewer, project, api):
    a = seed.agent(project, "fixer", status="working")

    async def scenario():
        comm = await connect("/ws/overview/?project=apollo", viewer)
        snapshot = await comm.receive_from(timeout=5)
        before = version_of(snapshot, f"agent-{a.pk}")
        r = await sync_to_async(api.post)(
            f"/api/v1/agents/{a.pk}/heartbeat",
            {"status": "blocked", "message": "permission prompt"},
            format="json",
        )
        assert r.status_code == 200, r.content
        delta = await receive_until(comm, f'id="agent-{a.pk}"')
        assert version_of(delta, f"agent-{a.pk}") > before
        assert 'data-status="blocked"' in delta and "data-snapshot" not in delta
        assert 'id="ov-attention"' in delta and "fixer" in delta.split('id="ov-attention"')[1]
        await comm.disconnect()

    run(scenario)


def test_the_agent_page_gets_its_own_events(viewer, project, api):
    a = seed.agent(project, "tracer", status="working")
    other = seed.agent(project, "other", status="working")

    async def scenario():
        comm = await connect(f"/ws/agents/{a.pk}/", viewer)
        assert 'id="agent-head"' in await comm.receive_from(timeout=5)
        await sync_to_async(api.post)(
            "/api/v1/spans",
            {
                "agent": other.pk,
                "span_id": "x",
                "phase": "finish",
                "tool_name": "Bash",
                "latency_ms": 10,
            },
            format="json",
        )
        r = await sync_to_async(api.post)(
            "/api/v1/spans",
            {
                "agent": a.pk,
                "span_id": "toolu_1",
                "phase": "finish",
                "turn": 4,
                "tool_name": "Grep",
                "latency_ms": 6100,
                "tokens_input": 100,
                "tokens_cache_read": 300,
            },
            format="json",
        )
        assert r.status_code in (200, 201), r.content
        delta = await receive_until(comm, f'id="turn-{a.pk}-4"')
        assert 'class="wf-row span lat-bad"' in delta and 'id="trace-summary"' in delta
        assert 'id="trace-strip"' in delta
        assert "span.finished" in delta and 'data-live-insert="#timeline"' in delta
        assert "75.0%" in delta  # cache read share of the prompt
        # Nothing about the other agent reached this socket.
        assert f"/agents/{other.pk}/" not in delta
        await comm.disconnect()

    run(scenario)


def test_it_keeps_projects_apart(viewer, project, other_project):
    mine = seed.agent(project, "mine")
    theirs = seed.agent(other_project, "theirs")

    async def scenario():
        comm = await connect("/ws/activity/?project=apollo", viewer)
        await comm.receive_from(timeout=5)
        await sync_to_async(seed.agent)(other_project, "theirs", status="error", reason="boom")
        await sync_to_async(seed.agent)(project, "mine", status="working")
        frame = await receive_until(comm, "agent.status_changed")
        assert f"/agents/{mine.pk}/" in frame and f"/agents/{theirs.pk}/" not in frame
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    run(scenario)


def test_activity_filters_apply_to_pushed_events(viewer, project):
    a = seed.agent(project, "fixer")

    async def scenario():
        # No task events yet: the snapshot is empty and nothing is sent for it.
        comm = await connect("/ws/activity/?project=apollo&kind=task.", viewer)
        await sync_to_async(seed.agent)(project, "fixer", status="working")
        from apps.agents.services import task_assign

        await sync_to_async(task_assign)(agent=a, title="Ship it")
        frame = await receive_until(comm, "task.assigned")
        assert "agent.status_changed" not in frame
        await comm.disconnect()

    run(scenario)


def test_a_fragment_is_rendered_once_for_every_socket(viewer, admin_user, project):
    a = seed.agent(project, "fixer")

    async def scenario():
        comms = [
            await connect("/ws/overview/?project=apollo", u)
            for u in (viewer, admin_user, viewer, viewer)
        ]
        for c in comms:
            await c.receive_from(timeout=5)
        renders = render_cache.renders
        await sync_to_async(seed.agent)(project, "fixer", status="working")
        frames = [await receive_until(c, f'id="agent-{a.pk}"') for c in comms]
        assert len(set(frames)) == 1
        assert render_cache.renders - renders == 1
        for c in comms:
            await c.disconnect()

    run(scenario)


def test_a_deleted_agent_becomes_a_tombstone(viewer, project):
    a = seed.agent(project, "doomed")

    async def scenario():
        comm = await connect("/ws/agents/?project=apollo", viewer)
        await comm.receive_from(timeout=5)
        from apps.agents.services import agent_delete

        await sync_to_async(agent_delete)(agent=a)
        frame = await receive_until(comm, f'id="agent-row-{a.pk}"')
        assert "data-deleted" in frame
        await comm.disconnect()

    run(scenario)


def test_it_asks_for_a_resync(viewer, project):
    seed.agent(project, "fixer")

    async def scenario():
        comm = await connect("/ws/agents/?project=apollo", viewer)
        await comm.receive_from(timeout=5)
        await comm.send_to(text_data='{"type": "resync"}')
        again = await comm.receive_from(timeout=5)
        assert 'id="agents-tbody"' in again and "data-snapshot" in again
        await comm.disconnect()

    run(scenario)


def test_an_unknown_agent_page_closes(viewer):
    async def scenario():
        comm = WebsocketCommunicator(app, "/ws/agents/987654/")
        comm.scope["user"] = viewer
        await comm.connect(timeout=5)
        assert (await comm.receive_output(timeout=5))["code"] == 4404

    run(scenario)


@pytest.fixture
def fresh_pulses():
    from apps.realtime import publish

    publish._pulses.last.clear()
    yield
    publish._pulses.last.clear()


def test_a_plain_heartbeat_moves_the_last_heartbeat_time(viewer, project, api, fresh_pulses):
    a = seed.agent(project, "fixer", status="working")
    b = seed.agent(project, "quiet", status="working")

    async def scenario():
        overview = await connect("/ws/overview/?project=apollo", viewer)
        page = await connect(f"/ws/agents/{b.pk}/", viewer)
        snapshot = await overview.receive_from(timeout=5)
        assert f'data-heartbeat-of="{a.pk}"' in snapshot
        await page.receive_from(timeout=5)
        r = await sync_to_async(api.post)(f"/api/v1/agents/{a.pk}/heartbeat", {}, format="json")
        assert r.status_code == 200
        # A plain heartbeat records no event; a pulse follows within a couple of seconds.
        frame = await receive_until(overview, "data-pulse", timeout=6)
        times = json.loads(html.unescape(re.search(r'data-pulse="([^"]+)"', frame)[1]))
        beat = await sync_to_async(lambda: type(a).objects.get(pk=a.pk).last_heartbeat_at)()
        assert times == {str(a.pk): beat.isoformat()}
        # The other agent's page hears nothing about it.
        assert await page.receive_nothing(timeout=0.5)
        await overview.disconnect()
        await page.disconnect()

    run(scenario)


def test_pulses_come_at_most_every_few_seconds_per_agent(project, fresh_pulses):
    from apps.realtime import publish

    a = seed.agent(project, "fixer", status="working")
    for _ in range(5):
        publish.pulse(agent_id=a.pk, project_id=project.pk, at=a.last_heartbeat_at)
    assert publish._pulses.pending == {project.pk: {a.pk: a.last_heartbeat_at.isoformat()}}
    publish._pulses.flush()
    publish.pulse(agent_id=a.pk, project_id=project.pk, at=a.last_heartbeat_at)
    assert publish._pulses.pending == {}  # within PULSE_SECONDS of the last one


def test_the_parent_page_shows_a_new_sub_agent_live(viewer, project):
    parent = seed.agent(project, "lead", status="working")

    async def scenario():
        comm = await connect(f"/ws/agents/{parent.pk}/", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert "No sub-agents." in snapshot
        await sync_to_async(seed.agent)(project, "researcher", parent=parent)
        frame = await receive_until(comm, 'id="agent-tree"')
        tree = frame.split('id="agent-tree"')[1]
        assert "researcher" in tree and "No sub-agents." not in tree
        await comm.disconnect()

    run(scenario)


def test_a_sub_agents_span_lands_in_the_parents_turn(viewer, project, api):
    parent = seed.agent(project, "lead", status="working")
    (sub,) = seed.waterfall_session(parent, turns=4)

    async def scenario():
        comm = await connect(f"/ws/agents/{parent.pk}/", viewer)
        snapshot = await comm.receive_from(timeout=5)
        before = version_of(snapshot, f"turn-{parent.pk}-4")
        r = await sync_to_async(api.post)(
            "/api/v1/spans",
            {"agent": sub.pk, "span_id": "late", "phase": "finish", "turn": 1,
             "tool_name": "WebFetch", "latency_ms": 700},
            format="json",
        )
        assert r.status_code in (200, 201), r.content
        frame = await receive_until(comm, f'id="turn-{parent.pk}-4"')
        assert version_of(frame, f"turn-{parent.pk}-4") > before
        turn = frame.split(f'id="turn-{parent.pk}-4"')[1].split("</section>")[0]
        assert "WebFetch" in turn and "is-nested" in turn
        await comm.disconnect()

    run(scenario)
