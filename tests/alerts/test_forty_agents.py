"""The trial team's seven minutes, replayed: 40 agents finishing tasks (info), erroring
(critical) and then 41 sessions going quiet at once (critical offline)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.alerts import engine, selectors
from apps.alerts.models import Alert, Notification
from apps.core.events import record_event


def test_forty_agents_keep_the_signal(make_rule, make_agent, emit, project):
    make_rule("task.completed", name="Task completed", severity="info")
    make_rule("agent.error", name="Agent erroring", severity="critical", threshold=3,
              window_minutes=10, respect_quiet_hours=False)
    make_rule("agent.offline", name="Agent offline", severity="critical",
              respect_quiet_hours=False)
    agents = [make_agent(f"agent-{i:02}") for i in range(40)]
    now = timezone.now() - timedelta(minutes=7)
    for i, a in enumerate(agents):
        for n in range(4):  # four finished tasks each: more than the info budget
            emit("task.completed", a, now=now + timedelta(seconds=i + n), result=f"task {n}")
        for n in range(3):
            emit("agent.error", a, now=now + timedelta(seconds=60 + i + n), message=f"boom {n}")

    # Info alerts were recorded and notified, but none stands open.
    assert Alert.objects.filter(severity="info").count() == 160
    assert not Alert.objects.filter(severity="info", state__in=["open", "acknowledged"]).exists()
    open_now = selectors.inbox_page(project, selectors.InboxFilters(state="active")).object_list
    assert {a.severity for a in open_now} == {"critical"}
    # Every critical "erroring" alert was notified, whatever the info messages spent.
    erroring = Notification.objects.filter(alert__event_kind="agent.error")
    assert erroring.count() == 40
    assert erroring.filter(state="sent").count() == 40

    # 41 sessions go quiet together (one more agent joined meanwhile).
    agents.append(make_agent("agent-40"))
    later = now + timedelta(minutes=6)
    events = []
    for i, a in enumerate(agents):
        type(a).objects.filter(pk=a.pk).update(status="offline")
        events.append(record_event("agent.offline", project=a.project, agent=a,
                                   ts=later + timedelta(seconds=i % 10), publish=False))
    for e in events:
        engine.evaluate_event(e.pk, now=later + timedelta(seconds=30))
    offline = Alert.objects.filter(event_kind="agent.offline")
    assert offline.count() == 1
    group = offline.get()
    assert group.title == "41 agents went offline" and len(group.members) == 41
    assert Notification.objects.filter(alert=group).count() == 1
    assert Notification.objects.get(alert=group).state == "sent"
