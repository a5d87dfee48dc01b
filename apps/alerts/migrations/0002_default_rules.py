"""The default rules a new install starts with: blocked, error, completed, idle, stale."""

from __future__ import annotations

from django.db import migrations

ALL = ["email", "webpush", "slack", "webhook"]
DEFAULTS = [
    # name, event kind, threshold, window (min), severity
    ("Agent blocked", "agent.blocked", 1, 10, "warning"),
    ("Agent erroring", "agent.error", 3, 10, "critical"),
    ("Task completed", "task.completed", 1, 10, "info"),
    ("Agent idle", "agent.idle", 1, 10, "warning"),
    ("Agent stale (offline)", "agent.offline", 1, 10, "critical"),
]


def create_defaults(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for name, kind, threshold, window, severity in DEFAULTS:
        if AlertRule.objects.filter(event_kind=kind, project__isnull=True).exists():
            continue
        AlertRule.objects.create(
            name=name, event_kind=kind, threshold=threshold, window_minutes=window,
            severity=severity, channels=ALL, action_interval_minutes=60,
            respect_sleep_windows=True, respect_quiet_hours=severity != "critical",
        )


def remove_defaults(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    names = [d[0] for d in DEFAULTS]
    AlertRule.objects.filter(name__in=names, project__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
