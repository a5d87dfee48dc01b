"""The lifecycle engine on a controlled clock: every time-based rule takes `now`."""

from __future__ import annotations

from datetime import time

import pytest

from apps.agents import lifecycle
from apps.agents.models import (
    Agent,
    AgentCommand,
    AgentEvent,
    AgentStatus,
    CommandStatus,
    LifecyclePolicy,
    Priority,
    SleepSchedule,
    SleepWindow,
    TaskStatus,
)
from apps.agents.services import (
    agent_action,
    agent_error,
    agent_heartbeat,
    agent_unblock,
    command_ack,
    task_assign,
    task_complete,
)

pytestmark = pytest.mark.django_db


def reload(agent: Agent) -> Agent:
    agent.refresh_from_db()
    return agent


def kinds(agent: Agent) -> list[str]:
    return list(AgentEvent.objects.filter(agent=agent).order_by("id").values_list("kind", flat=True))


def test_a_silent_working_agent_is_blocked_as_idle(make_agent, clock):
    agent = make_agent(now=clock())
    task_assign(agent=agent, title="t", now=clock())
    agent_heartbeat(agent=reload(agent), now=clock())
    clock.advance(minutes=4, seconds=59)
    assert lifecycle.sweep_idle(clock()) == 0
    clock.advance(seconds=2)
    assert lifecycle.sweep_idle(clock()) == 1
    agent = reload(agent)
    assert (agent.status, agent.status_reason) == (AgentStatus.BLOCKED, "idle")
    event = AgentEvent.objects.filter(agent=agent, kind="agent.idle").get()
    assert event.data["from"] == "working"
    # the next heartbeat clears it: back to working
    agent_heartbeat(agent=agent, now=clock.advance(seconds=1))
    assert reload(agent).status == AgentStatus.WORKING
    assert kinds(agent)[-1] == "agent.unblocked"


def test_the_idle_threshold_is_per_project(make_agent, project, clock):
    LifecyclePolicy.objects.create(project=project, idle_after_seconds=60)
    agent = make_agent(now=clock())
    task_assign(agent=agent, title="t", now=clock())
    clock.advance(seconds=61)
    assert lifecycle.sweep_idle(clock()) == 1


def test_a_sweep_run_twice_changes_nothing_the_second_time(make_agent, clock):
    busy = make_agent("busy", now=clock())
    task_assign(agent=busy, title="t", now=clock())
    make_agent("quiet", now=clock())
    clock.advance(minutes=6)
    assert lifecycle.sweep_all(clock()) == {"idle": 1, "offline": 0, "sleep": 0}
    clock.advance(minutes=10)
    first = lifecycle.sweep_all(clock())
    assert first == {"idle": 0, "offline": 2, "sleep": 0}
    events, versions = AgentEvent.objects.count(), list(Agent.objects.values_list("version"))
    assert lifecycle.sweep_all(clock()) == {"idle": 0, "offline": 0, "sleep": 0}
    assert AgentEvent.objects.count() == events
    assert list(Agent.objects.values_list("version")) == versions


def test_silence_makes_an_agent_offline_and_a_heartbeat_brings_it_back(make_agent, clock):
    agent = make_agent(now=clock())
    clock.advance(minutes=14)
    assert lifecycle.sweep_offline(clock()) == 0
    clock.advance(minutes=2)
    assert lifecycle.sweep_offline(clock()) == 1
    assert reload(agent).status == AgentStatus.OFFLINE
    agent_heartbeat(agent=agent, now=clock())
    assert reload(agent).status == AgentStatus.IDLE
    assert kinds(agent)[-2:] == ["agent.offline", "agent.online"]


def test_an_error_streak_blocks_and_unblock_restores(make_agent, clock):
    agent = make_agent(now=clock())
    task_assign(agent=agent, title="t", now=clock())
    agent_error(agent=agent, message="one", now=clock())
    clock.advance(minutes=4)
    agent_error(agent=agent, message="two", now=clock())
    assert reload(agent).status == AgentStatus.WORKING
    clock.advance(minutes=4)
    agent_error(agent=agent, message="three", now=clock())
    agent = reload(agent)
    assert agent.status == AgentStatus.BLOCKED and "3 errors" in agent.status_reason
    agent_unblock(agent=agent, now=clock())
    assert reload(agent).status == AgentStatus.WORKING
    # the streak restarts after an unblock
    agent_error(agent=agent, message="four", now=clock.advance(seconds=1))
    assert reload(agent).status == AgentStatus.WORKING


def test_errors_outside_the_window_do_not_count(make_agent, clock):
    agent = make_agent(now=clock())
    agent_error(agent=agent, message="old", now=clock())
    agent_error(agent=agent, message="old", now=clock.advance(minutes=1))
    clock.advance(minutes=10)
    agent_error(agent=agent, message="new", now=clock())
    assert reload(agent).status == AgentStatus.IDLE


def test_the_error_threshold_puts_the_agent_to_sleep(make_agent, clock):
    agent = make_agent(now=clock())
    for i in range(5):
        agent_error(agent=agent, message=f"e{i}", now=clock.advance(seconds=30))
    agent = reload(agent)
    assert agent.status == AgentStatus.SLEEPING and "5 errors" in agent.status_reason
    assert AgentCommand.objects.filter(agent=agent, action="sleep").count() == 1
    assert "agent.blocked" in kinds(agent) and kinds(agent).count("agent.sleeping") == 1
    agent_action(agent=agent, action="wake", now=clock.advance(minutes=1))
    assert reload(agent).status == AgentStatus.IDLE  # the state before the block


def test_a_high_priority_task_wakes_a_sleeping_agent(make_agent, clock):
    agent = make_agent(now=clock())
    agent_action(agent=agent, action="sleep", now=clock())
    low = task_assign(agent=reload(agent), title="later", priority=Priority.LOW, now=clock())
    assert reload(agent).status == AgentStatus.SLEEPING and low.status == TaskStatus.PENDING
    urgent = task_assign(agent=agent, title="prod down", priority=Priority.URGENT, now=clock())
    agent = reload(agent)
    assert agent.status == AgentStatus.WORKING
    assert agent.current_task == urgent  # the most urgent pending task goes first
    assert "agent.woke" in kinds(agent)


def test_completion_hands_out_the_next_task_by_priority(make_agent, clock):
    agent = make_agent(now=clock())
    first = task_assign(agent=agent, title="first", now=clock())
    task_assign(agent=agent, title="none", priority=Priority.NONE, now=clock())
    low = task_assign(agent=agent, title="low", priority=Priority.LOW, now=clock())
    high = task_assign(agent=agent, title="high", priority=Priority.HIGH, now=clock())
    task_complete(task=first, result="done", now=clock.advance(minutes=1))
    first.refresh_from_db()
    assert first.status == TaskStatus.COMPLETED and first.result == "done"
    assert reload(agent).current_task == high
    task_complete(task=high, now=clock())
    assert reload(agent).current_task == low
    event = AgentEvent.objects.filter(kind="task.completed").first()
    assert event.data["task_id"] == high.pk


def test_completion_without_more_work_idles_or_sleeps_in_a_window(make_agent, project, clock):
    agent = make_agent(now=clock())
    task = task_assign(agent=agent, title="t", now=clock())
    task_complete(task=task, now=clock())
    assert reload(agent).status == AgentStatus.IDLE
    schedule = SleepSchedule.objects.create(project=project, timezone="UTC")
    SleepWindow.objects.create(schedule=schedule, weekday=clock().weekday(), start=time(11),
                               end=time(13))
    task = task_assign(agent=agent, title="t2", now=clock())
    task_complete(task=task, now=clock())
    agent = reload(agent)
    assert (agent.status, agent.status_reason) == (AgentStatus.SLEEPING, "schedule")


def test_a_sleep_window_across_midnight_in_a_non_utc_zone(make_agent, project, clock):
    # Friday 22:00 to Saturday 06:00 in Tokyo (UTC+9).
    schedule = SleepSchedule.objects.create(project=project, timezone="Asia/Tokyo")
    SleepWindow.objects.create(schedule=schedule, weekday=4, start=time(22), end=time(6))
    agent = make_agent(now=clock())
    from datetime import UTC, datetime

    friday_2130_tokyo = datetime(2026, 3, 6, 12, 30, tzinfo=UTC)
    assert not lifecycle.in_sleep_window(agent, friday_2130_tokyo)
    assert lifecycle.sweep_sleep_windows(friday_2130_tokyo) == 0
    friday_2330_tokyo = datetime(2026, 3, 6, 14, 30, tzinfo=UTC)
    assert lifecycle.in_sleep_window(agent, friday_2330_tokyo)
    saturday_0530_tokyo = datetime(2026, 3, 6, 20, 30, tzinfo=UTC)
    assert lifecycle.in_sleep_window(agent, saturday_0530_tokyo)
    assert lifecycle.sweep_sleep_windows(saturday_0530_tokyo) == 1
    assert reload(agent).status == AgentStatus.SLEEPING
    assert lifecycle.sweep_sleep_windows(saturday_0530_tokyo) == 0  # idempotent
    saturday_0600_tokyo = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)
    assert not lifecycle.in_sleep_window(agent, saturday_0600_tokyo)
    assert lifecycle.sweep_sleep_windows(saturday_0600_tokyo) == 1
    assert reload(agent).status == AgentStatus.IDLE
    actions = list(AgentCommand.objects.filter(agent=agent).values_list("action", flat=True))
    assert actions == ["sleep", "wake"]
    # the same wall-clock window on Thursday night does not apply
    thursday_2330_tokyo = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    assert not lifecycle.in_sleep_window(agent, thursday_2330_tokyo)


def test_an_agents_own_schedule_wins_over_the_projects(make_agent, project, clock):
    agent = make_agent(now=clock())
    wide = SleepSchedule.objects.create(project=project, timezone="UTC")
    SleepWindow.objects.create(schedule=wide, weekday=clock().weekday(), start=time(0),
                               end=time(23, 59))
    assert lifecycle.in_sleep_window(agent, clock())
    SleepSchedule.objects.create(project=project, agent=agent, timezone="UTC", enabled=False)
    assert not lifecycle.in_sleep_window(agent, clock())


def test_commands_are_delivered_once_acknowledged(make_agent, clock):
    agent = make_agent(now=clock())
    command = agent_action(agent=agent, action="stop", now=clock())
    assert reload(agent).pending_commands == 1
    delivered = agent_heartbeat(agent=reload(agent), now=clock.advance(seconds=5))
    assert [c.pk for c in delivered] == [command.pk]
    assert [c.pk for c in agent_heartbeat(agent=reload(agent), now=clock())] == [command.pk]
    command_ack(command=command, now=clock())
    command.refresh_from_db()
    assert command.status == CommandStatus.ACKED and command.delivery_count == 2
    assert reload(agent).pending_commands == 0
    assert agent_heartbeat(agent=reload(agent), now=clock()) == []


def test_unblock_returns_to_the_state_before_the_block(make_agent, clock):
    from apps.agents.services import agent_block

    agent = make_agent(now=clock())
    agent_block(agent=agent, reason="needs review", now=clock())
    agent_unblock(agent=agent, now=clock())
    assert reload(agent).status == AgentStatus.IDLE
    task_assign(agent=agent, title="t", now=clock())
    agent_block(agent=agent, reason="waiting", now=clock())
    agent_action(agent=agent, action="unblock", now=clock())
    assert reload(agent).status == AgentStatus.WORKING
