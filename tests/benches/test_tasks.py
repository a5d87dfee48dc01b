"""Runs started like the page starts them reach a real Celery worker; cancel reaches it too."""

from __future__ import annotations

import pytest

from apps.benches import services
from apps.benches.models import Endpoint, Run, RunState
from tests.support import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_started_run_is_executed_by_a_worker(celery_worker, suite):
    run = services.run_start(suite=suite, actor=None)
    wait_for(lambda: Run.objects.get(pk=run.pk).state == RunState.FINISHED, timeout=30,
             message="the worker to finish the run")
    run.refresh_from_db()
    assert run.levels.count() == 2 and run.started_at and run.heartbeat_at
    assert Endpoint.objects.get().lease_run_id is None


@pytest.mark.django_db(transaction=True)
def test_cancel_from_another_thread_stops_the_worker(celery_worker, suite, fake):
    fake.configure(itl_ms=50, tokens=10)
    suite.concurrency_levels, suite.requests_per_level = [1, 2], 40
    services.suite_save(suite=suite, actor=None)
    run = services.run_start(suite=suite, actor=None)
    wait_for(lambda: (Run.objects.get(pk=run.pk).progress or {}).get("done", 0) >= 1,
             timeout=30, message="the run to make progress")
    services.run_cancel(run=Run.objects.get(pk=run.pk), actor=None)
    wait_for(lambda: Run.objects.get(pk=run.pk).state == RunState.CANCELLED, timeout=10,
             message="the worker to stop the run")
    level = Run.objects.get(pk=run.pk).levels.get()
    assert level.cancelled and level.completed < 40
