"""Heartbeats update the agent row in place: no index on last_heartbeat_at (the sweeps read
COALESCE(last_heartbeat_at, ...), which it never served), and on PostgreSQL free room on each
page (fillfactor 85) so the new row version fits beside the old one (a HOT update: no index
is touched)."""

from django.db import migrations, models


def set_fillfactor(apps, schema_editor, value: int = 85) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE agents_agent SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor) -> None:
    set_fillfactor(apps, schema_editor, 100)


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0005_agent_archive_events_outlive_agents"),
    ]

    operations = [
        migrations.AlterField(
            model_name="agent",
            name="last_heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
