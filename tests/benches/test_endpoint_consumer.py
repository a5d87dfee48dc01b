"""apps/benches/consumers.py: the endpoints page socket: snapshot, cards as they change,
tombstones on delete, nothing for outsiders."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from apps.benches import endpoints as svc
from apps.benches.probe import ProbeResult, probe_apply
from apps.realtime.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)
app = URLRouter(websocket_urlpatterns)
PATH = "/ws/benches/endpoints/?project=apollo"


async def _until(comm, needle, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await comm.receive_from(timeout=max(0.01, deadline - loop.time()))
        if needle in frame:
            return frame


def test_it_refuses_outsiders(outsider):
    async def scenario():
        comm = WebsocketCommunicator(app, PATH)
        comm.scope["user"] = outsider
        await comm.connect(timeout=5)
        assert (await comm.receive_output(timeout=5))["code"] == 4403
    async_to_sync(scenario)()


def test_snapshot_then_cards_then_tombstone(viewer, make_endpoint):
    endpoint = make_endpoint(name="gpu1")

    async def scenario():
        comm = WebsocketCommunicator(app, PATH)
        comm.scope["user"] = viewer
        connected, _ = await comm.connect(timeout=5)
        assert connected
        snapshot = await comm.receive_from(timeout=5)
        assert 'id="endpoint-list" data-snapshot' in snapshot and "gpu1" in snapshot
        await sync_to_async(probe_apply)(endpoint_id=endpoint.pk,
                                         result=ProbeResult(ok=True, latency_ms=12.0))
        card = await _until(comm, "chip-ep-up")
        assert card.startswith(f'<article class="card endpoint-card state-up" id="endpoint-{endpoint.pk}"')
        assert "Probe now" not in card  # a viewer gets no buttons
        pk = endpoint.pk
        await sync_to_async(svc.endpoint_delete)(endpoint=endpoint)
        tomb = await _until(comm, "data-deleted")
        assert f'id="endpoint-{pk}"' in tomb
        await comm.disconnect()
    async_to_sync(scenario)()
