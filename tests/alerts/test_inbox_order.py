"""The inbox lists critical, then warning, then info, oldest first within a severity; rows
carry the hooks the keyboard shortcuts use; a grouped alert lists its agents."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from apps.alerts.models import Alert


def test_severity_then_oldest_first(client, admin_user, make_rule, make_agent, emit):
    make_rule("agent.blocked", severity="warning")
    make_rule("agent.error", severity="critical")
    t0 = timezone.now() - timedelta(minutes=30)
    emit("agent.blocked", make_agent("w-old"), status="blocked", reason="x", now=t0)
    emit("agent.error", make_agent("c-new"), now=t0 + timedelta(minutes=20), message="b")
    emit("agent.blocked", make_agent("w-new"), status="blocked", reason="x",
         now=t0 + timedelta(minutes=10))
    emit("agent.error", make_agent("c-old"), now=t0 + timedelta(minutes=5), message="a")
    client.force_login(admin_user)
    body = client.get("/alerts/").content.decode()
    ids = [int(i) for i in re.findall(r'<article id="alert-(\d+)"', body)]
    names = [Alert.objects.get(pk=i).agent.name for i in ids]
    assert names == ["c-old", "c-new", "w-old", "w-new"]


def test_rows_carry_the_shortcut_hooks(client, admin_user, make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="x")
    client.force_login(admin_user)
    body = client.get("/alerts/").content.decode()
    assert "data-list-item" in body and 'data-shortcut="ack"' in body
    assert 'form="alert-bulk"' in body and 'id="alert-bulk"' in body


def test_a_grouped_alert_lists_its_agents_on_its_page(client, viewer, make_rule, make_agent):
    from apps.alerts import engine
    from apps.core.events import record_event

    make_rule("agent.offline", severity="critical")
    events = []
    for i in range(5):
        a = make_agent(f"node-{i}", status="offline")
        events.append(record_event("agent.offline", project=a.project, agent=a, publish=False))
    for e in events:
        engine.evaluate_event(e.pk)
    group = Alert.objects.get(grouped=True)
    client.force_login(viewer)
    body = client.get(f"/alerts/{group.pk}/").content.decode()
    assert "5 agents went offline" in body
    for i in range(5):
        assert f"node-{i}" in body
