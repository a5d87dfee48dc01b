"""The run page's socket through Channels' WebsocketCommunicator, on the configured layer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db.models import F

from apps.benches import live
from apps.benches.models import Run, RunState
from apps.benches.runner import run_execute
from apps.benches.services import run_start
from apps.realtime.routing import websocket_urlpatterns
from tests.benches import seed
from tests.benches.fake_stream import Behaviour, serving
from tests.realtime.test_consumers import receive_until, version_of

pytestmark = pytest.mark.django_db(transaction=True)
app = URLRouter(websocket_urlpatterns)


async def connect(path: str, user) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(app, path)
    comm.scope["user"] = user
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


def test_it_refuses_anonymous_users_outsiders_and_unknown_runs(outsider, viewer, project):
    run = seed.run(seed.suite(seed.endpoint(project)))

    async def scenario():
        for user, path, code in ((AnonymousUser(), f"/ws/benches/runs/{run.pk}/", 4401),
                                 (outsider, f"/ws/benches/runs/{run.pk}/", 4403),
                                 (viewer, "/ws/benches/runs/999/", 4404)):
            comm = await connect(path, user)
            assert (await comm.receive_output(timeout=5))["code"] == code

    async_to_sync(scenario)()


def test_runs_of_archived_projects_are_refused(viewer, project):
    run = seed.run(seed.suite(seed.endpoint(project)))
    project.archived = True
    project.save()

    async def scenario():
        comm = await connect(f"/ws/benches/runs/{run.pk}/", viewer)
        assert (await comm.receive_output(timeout=5))["code"] == 4404

    async_to_sync(scenario)()


def test_it_sends_a_snapshot_then_each_newer_tick(viewer, project):
    run = seed.run(seed.suite(seed.endpoint(project)), state=RunState.RUNNING, levels=[1],
                   progress={"level": 1, "levels": 4, "concurrency": 2, "done": 3, "total": 16})

    def tick(done: int) -> Run:
        Run.objects.filter(pk=run.pk).update(
            progress=run.progress | {"done": done, "ttft_p50_ms": 55.0},
            version=F("version") + 1)
        fresh = Run.objects.get(pk=run.pk)
        live.announce(fresh, on_commit=False)
        return fresh

    async def scenario():
        comm = await connect(f"/ws/benches/runs/{run.pk}/", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert "data-snapshot" in snapshot and 'id="run-progress"' in snapshot
        assert 'aria-valuenow="3"' in snapshot and 'id="run-results"' in snapshot
        fresh = await sync_to_async(tick)(9)
        delta = await receive_until(comm, 'aria-valuenow="9"')
        assert "data-snapshot" not in delta and "55.0 ms" in delta
        assert version_of(delta, "run-progress") == fresh.version
        # a late message about an older version sends nothing
        await sync_to_async(live.announce)(run, on_commit=False)
        assert await comm.receive_nothing(timeout=0.5)
        await comm.disconnect()

    async_to_sync(scenario)()


def test_it_follows_a_real_run_to_its_results(viewer, admin_user, project):
    with serving(Behaviour(ttft_ms=20, itl_ms=10, tokens=5, slots=8)) as server:
        ep = seed.endpoint(project, url=server.url)
        s = seed.suite(ep, concurrency_levels=[1, 2], requests_per_level=12, warmup_requests=0)
        run = run_start(suite=s, actor=admin_user)

        async def scenario():
            comm = await connect(f"/ws/benches/runs/{run.pk}/", viewer)
            # The first frame is the run as it stands: usually still queued, but a worker (the
            # embedded one, or the real Celery worker) may already have taken it.
            first = await comm.receive_from(timeout=5)
            assert 'id="run-head"' in first
            assert "Queued" in first or "is-running" in first or "chip-ok" in first
            worker = asyncio.ensure_future(sync_to_async(run_execute, thread_sensitive=False)(
                run_id=run.pk))
            assert "Level 1 of 2" in await receive_until(comm, "Level 1 of 2", timeout=10)
            done = await receive_until(comm, "chip-ok", timeout=20)
            assert 'data-bench-chart="chart-ttft"' in done and done.count('<tr id="level-') == 2
            assert 'id="run-progress" hidden' in done
            # run_start also queued the run: on the production stack a real Celery worker may
            # take it first, and then this call finds it no longer queued (None). Either way the
            # page followed the run, and the run finished.
            ran = await worker
            assert ran is None or ran.state == RunState.FINISHED
            state = await sync_to_async(lambda: Run.objects.get(pk=run.pk).state)()
            assert state == RunState.FINISHED
            await comm.disconnect()

        async_to_sync(scenario)()
