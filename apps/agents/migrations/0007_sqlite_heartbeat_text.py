"""SQLite: heartbeats written by the fast path before it adapted its timestamp were stored as
"...+00:00" text, which the sweeps' conditional updates never match (such agents never went
offline). Rewrite them the way the ORM stores datetimes."""

from django.db import migrations


def normalise(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "UPDATE agents_agent SET last_heartbeat_at = substr(last_heartbeat_at, 1, "
            "length(last_heartbeat_at) - 6) WHERE last_heartbeat_at LIKE '%+00:00'")


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0006_heartbeats_update_in_place"),
    ]

    operations = [migrations.RunPython(normalise, migrations.RunPython.noop)]
