"""The lifecycle sweeps run as real Celery tasks on the configured broker, on beat's schedule."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.agents import tasks
from apps.agents.models import Agent, AgentEvent, AgentStatus
from tests.support import wait_for


def wait_until_worker_idle() -> None:
    """Reactors (alerts, ...) enqueue work for our events; let it finish before the test's
    database flush, or the TRUNCATE and those tasks deadlock."""
    from celery.worker import state

    quiet = {"n": 0}

    def idle() -> bool:
        busy = bool(state.active_requests or state.reserved_requests)
        quiet["n"] = 0 if busy else quiet["n"] + 1
        return quiet["n"] >= 40  # 2 s: the memory broker polls about once a second

    wait_for(idle, timeout=20, interval=0.05, message="the worker to finish its tasks")


def test_the_sweeps_are_on_beats_schedule():
    for name in ("agents.sweep_idle", "agents.sweep_offline", "agents.sweep_sleep_windows"):
        entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == name)
        assert entry["schedule"] == 30


def test_the_sweeps_run_in_a_celery_worker(celery_worker, make_agent):
    from apps.agents.services import task_assign

    long_ago = timezone.now() - timedelta(minutes=30)
    working = make_agent("working", now=long_ago)
    task_assign(agent=working, title="t", now=long_ago)
    quiet = make_agent("quiet", now=long_ago)
    tasks.sweep_idle.delay()
    wait_for(lambda: Agent.objects.get(pk=working.pk).status == AgentStatus.BLOCKED,
             message="the idle sweep to block the silent agent")
    tasks.sweep_offline.delay()
    wait_for(lambda: Agent.objects.get(pk=quiet.pk).status == AgentStatus.OFFLINE,
             message="the offline sweep")
    tasks.sweep_sleep_windows.delay()
    tasks.sweep_offline.delay()
    wait_for(lambda: Agent.objects.get(pk=working.pk).status == AgentStatus.OFFLINE,
             message="the second offline sweep")
    assert AgentEvent.objects.filter(kind="agent.idle").count() == 1
    assert AgentEvent.objects.filter(kind="agent.offline").count() == 2
    wait_until_worker_idle()
