"""Migration 0007 holds on a database that already has repeated info alerts for one event."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)


def test_repeated_info_alerts_are_unlinked_not_lost(project):
    executor = MigrationExecutor(connection)
    before = [("alerts", "0006_snooze_mute_group")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    Rule = old.get_model("alerts", "AlertRule")
    Alert = old.get_model("alerts", "Alert")
    rule = Rule.objects.create(name="done", event_kind="task.completed", severity="info")
    ids = [Alert.objects.create(rule=rule, project_id=project.pk, severity="info",
                                state="resolved", dedupe_key=f"k{i}", event_kind="task.completed",
                                title="Task completed", first_event_id=42).pk for i in range(3)]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from apps.alerts.models import Alert as Current

    rows = {a.pk: a.first_event_id for a in Current.objects.filter(pk__in=ids)}
    assert rows == {ids[0]: 42, ids[1]: None, ids[2]: None}
