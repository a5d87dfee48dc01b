"""Events stored before times were checked at the door may carry a time no reader can
convert back (year 10000 after a time-zone shift broke the event log, the activity page and the
agent page on PostgreSQL). Such times are replaced by when the event was received; the filter
runs in SQL, so no bad value is read on the way."""

from datetime import UTC, datetime, timedelta

from django.db import migrations
from django.db.models import F, Q


def repair(apps, schema_editor) -> None:
    event = apps.get_model("agents", "AgentEvent")
    latest = datetime.now(UTC) + timedelta(days=1)
    event.objects.filter(Q(ts__gt=latest) | Q(ts__lt=datetime(2000, 1, 1, tzinfo=UTC))).update(
        ts=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0007_sqlite_heartbeat_text"),
    ]

    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]
