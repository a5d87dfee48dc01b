"""The runs list's and the suites page's sockets (RunsListConsumer, SuitesConsumer)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db.models import F

from apps.benches import live, pages
from apps.benches.models import Run, RunState
from apps.realtime.routing import websocket_urlpatterns
from tests.benches import seed
from tests.realtime.test_consumers import receive_until, version_of

pytestmark = pytest.mark.django_db(transaction=True)
app = URLRouter(websocket_urlpatterns)


async def connect(path: str, user) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(app, path)
    comm.scope["user"] = user
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


def tick(run: Run, **changes) -> Run:
    Run.objects.filter(pk=run.pk).update(version=F("version") + 1, **changes)
    fresh = Run.objects.get(pk=run.pk)
    live.announce(fresh, on_commit=False)
    return fresh


def test_it_refuses_anonymous_users_outsiders_and_archived_projects(outsider, viewer, project):
    project.archived = True
    project.save()

    async def scenario():
        for user, path, code in ((AnonymousUser(), "/ws/benches/runs/", 4401),
                                 (outsider, "/ws/benches/runs/", 4403),
                                 (viewer, "/ws/benches/runs/?project=apollo", 4404),
                                 (AnonymousUser(), "/ws/benches/suites/", 4401),
                                 (outsider, "/ws/benches/suites/", 4403)):
            comm = await connect(path, user)
            assert (await comm.receive_output(timeout=5))["code"] == code

    async_to_sync(scenario)()


def test_rows_move_and_new_runs_go_on_top(viewer, project):
    s = seed.suite(seed.endpoint(project))
    running = seed.run(s, state=RunState.RUNNING, levels=[],
                       progress={"level": 0, "levels": 4, "done": 3, "total": 16})

    async def scenario():
        comm = await connect("/ws/benches/runs/?project=apollo", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert snapshot.lstrip().startswith('<tbody id="run-rows" data-snapshot')
        assert "level 1/4 · 3/16" in snapshot
        fresh = await sync_to_async(tick)(running, progress={"level": 1, "levels": 4,
                                                             "done": 37, "total": 64})
        delta = await receive_until(comm, "level 2/4 · 37/64")
        assert version_of(delta, f"run-row-{running.pk}") == fresh.version
        assert 'data-live-insert="#run-rows"' in delta
        # a late message about an older version sends nothing
        await sync_to_async(live.announce)(running, on_commit=False)
        assert await comm.receive_nothing(timeout=0.3)
        new = await sync_to_async(seed.run)(s, state=RunState.QUEUED, levels=[])
        await sync_to_async(live.announce)(new, on_commit=False)
        delta = await receive_until(comm, f'id="run-row-{new.pk}"')
        assert "waiting for a worker" in delta and 'data-live-insert="#run-rows"' in delta
        await comm.disconnect()

    async_to_sync(scenario)()


def test_a_run_leaving_the_filter_is_dropped_and_other_pages_get_no_new_rows(viewer, project):
    s = seed.suite(seed.endpoint(project))
    running = seed.run(s, state=RunState.RUNNING, levels=[])
    for _ in range(pages.RUNS_PER_PAGE):
        seed.run(s, levels=[1])

    async def scenario():
        comm = await connect("/ws/benches/runs/?state=running", viewer)
        assert f'id="run-row-{running.pk}"' in await comm.receive_from(timeout=5)
        fresh = await sync_to_async(tick)(running, state=RunState.FINISHED)
        gone = await receive_until(comm, "data-deleted")
        assert f'id="run-row-{running.pk}"' in gone and f'data-version="{fresh.version}"' in gone
        await comm.disconnect()
        older = await connect("/ws/benches/runs/?page=2", viewer)
        assert "run-row-" in await older.receive_from(timeout=5)
        new = await sync_to_async(seed.run)(s, state=RunState.QUEUED, levels=[])
        await sync_to_async(live.announce)(new, on_commit=False)
        assert await older.receive_nothing(timeout=0.3)
        await older.disconnect()

    async_to_sync(scenario)()


def test_the_suites_page_hears_its_last_run_change(viewer, project):
    s = seed.suite(seed.endpoint(project))
    old = seed.run(s)

    async def scenario():
        comm = await connect("/ws/benches/suites/", viewer)
        snapshot = await comm.receive_from(timeout=5)
        assert version_of(snapshot, f"suite-last-{s.pk}") == pages.last_run_version(old)
        new = await sync_to_async(seed.run)(s, state=RunState.RUNNING, levels=[],
                                            progress={"level": 0, "levels": 4, "done": 1,
                                                      "total": 16})
        await sync_to_async(live.announce)(new, on_commit=False)
        delta = await receive_until(comm, f"#{new.pk}")
        assert "Running" in delta and "level 1/4 · 1/16" in delta
        assert version_of(delta, f"suite-last-{s.pk}") > pages.last_run_version(old)
        # news of the older run changes nothing: the cell shows the newest run
        await sync_to_async(tick)(old)
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    async_to_sync(scenario)()
