"""The live inbox socket: snapshot on join, rows as alerts open and resolve, tombstones when a
row leaves the filter, nothing for outsiders."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from apps.alerts.models import Alert
from apps.realtime.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)
app = URLRouter(websocket_urlpatterns)


async def _connect(path, user):
    comm = WebsocketCommunicator(app, path)
    comm.scope["user"] = user
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


async def _until(comm, needle, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await comm.receive_from(timeout=max(0.01, deadline - loop.time()))
        if needle in frame:
            return frame


def test_it_refuses_outsiders(outsider):
    async def scenario():
        comm = WebsocketCommunicator(app, "/ws/alerts/")
        comm.scope["user"] = outsider
        await comm.connect(timeout=5)
        assert (await comm.receive_output(timeout=5))["code"] == 4403
    async_to_sync(scenario)()


def test_it_sends_a_snapshot_then_live_rows(viewer, make_rule, make_agent, emit):
    make_rule("agent.blocked")
    ada = make_agent("ada")
    emit("agent.blocked", ada, status="blocked", reason="first")

    async def scenario():
        comm = await _connect("/ws/alerts/?state=active&project=apollo", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert 'id="alert-list" data-snapshot' in snapshot and "ada is blocked: first" in snapshot
        bob = await sync_to_async(make_agent)("bob")
        await sync_to_async(emit)("agent.blocked", bob, status="blocked", reason="second")
        row = await _until(comm, "bob is blocked")
        assert row.startswith('<article id="alert-') and 'data-live-insert="#alert-items"' in row
        assert "/ack/" not in row  # a viewer gets no buttons
        await sync_to_async(emit)("agent.unblocked", bob, status="working")
        pk = await sync_to_async(lambda: Alert.objects.get(agent=bob).pk)()
        tomb = await _until(comm, f'id="alert-{pk}"')
        assert "data-deleted" in tomb  # resolved rows leave the "active" list
        await comm.disconnect()
    async_to_sync(scenario)()


def test_the_counts_in_the_page_head_follow_live(viewer, make_rule, make_agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", make_agent("ada"), status="blocked", reason="first")

    async def scenario():
        comm = await _connect("/ws/alerts/?state=active&project=apollo", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert '<span class="tab-count" id="tab-count-open" data-snapshot>1</span>' in snapshot
        bob = await sync_to_async(make_agent)("bob")
        await sync_to_async(emit)("agent.blocked", bob, status="blocked", reason="second")
        frame = await _until(comm, "bob is blocked")
        assert '<p id="alert-summary" data-snapshot>2 open · 0 acknowledged in Apollo.' in frame
        assert '<span class="tab-count" id="tab-count-active" data-snapshot>2</span>' in frame
        await sync_to_async(emit)("agent.unblocked", bob, status="working")
        frame = await _until(comm, 'id="tab-count-open"')
        assert '<span class="tab-count" id="tab-count-open" data-snapshot>1</span>' in frame
        await comm.disconnect()
    async_to_sync(scenario)()


def test_a_snoozed_alert_leaves_the_active_list_live(viewer, admin_user, make_rule, make_agent,
                                                     emit):
    from datetime import timedelta

    from django.utils import timezone

    from apps.alerts import services

    make_rule("agent.blocked")
    emit("agent.blocked", make_agent("ada"), status="blocked", reason="first")
    alert = Alert.objects.get()

    async def scenario():
        active = await _connect("/ws/alerts/?state=active&project=apollo", viewer)
        snoozed = await _connect("/ws/alerts/?state=snoozed&project=apollo", viewer)
        await active.receive_from(timeout=5)
        await snoozed.receive_from(timeout=5)
        await sync_to_async(services.alert_snooze)(
            alert=alert, until=timezone.now() + timedelta(hours=1), user=admin_user)
        tomb = await _until(active, f'id="alert-{alert.pk}"')
        assert "data-deleted" in tomb
        row = await _until(snoozed, f'id="alert-{alert.pk}"')
        assert "data-deleted" not in row and "snoozed until" in row
        await active.disconnect()
        await snoozed.disconnect()
    async_to_sync(scenario)()
