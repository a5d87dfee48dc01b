"""Fewer index entries per event and span: drop the single-column foreign-key indexes that a
composite index already starts with (project, agent), and index task and actor only where set.

The field changes are state only: on SQLite Django would rebuild both tables (every event
copied) to drop an index; DROP INDEX does the same on both databases in a moment. The names
are the ones Django gave these indexes, identical on PostgreSQL and SQLite."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0008_events_with_impossible_times"),
        ("projects", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="agentevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="agentevent",
                    name="agent",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="events",
                        to="agents.agent",
                    ),
                ),
                migrations.AlterField(
                    model_name="agentevent",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="agentevent",
                    name="task",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="events",
                        to="agents.agenttask",
                    ),
                ),
                migrations.AlterField(
                    model_name="toolspan",
                    name="agent",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="spans",
                        to="agents.agent",
                    ),
                ),
                migrations.AlterField(
                    model_name="toolspan",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="spans",
                        to="projects.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="toolspan",
                    name="task",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="spans",
                        to="agents.agenttask",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS agents_agentevent_actor_id_8abb981f",
                    "CREATE INDEX agents_agentevent_actor_id_8abb981f ON agents_agentevent (actor_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS agents_agentevent_agent_id_0cd9dacd",
                    "CREATE INDEX agents_agentevent_agent_id_0cd9dacd ON agents_agentevent (agent_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS agents_agentevent_project_id_efc23865",
                    "CREATE INDEX agents_agentevent_project_id_efc23865 ON agents_agentevent (project_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS agents_agentevent_task_id_f0bda4c3",
                    "CREATE INDEX agents_agentevent_task_id_f0bda4c3 ON agents_agentevent (task_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS agents_toolspan_agent_id_b5817daf",
                    "CREATE INDEX agents_toolspan_agent_id_b5817daf ON agents_toolspan (agent_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS agents_toolspan_project_id_e75f0378",
                    "CREATE INDEX agents_toolspan_project_id_e75f0378 ON agents_toolspan (project_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS agents_toolspan_task_id_3ea98fe2",
                    "CREATE INDEX agents_toolspan_task_id_3ea98fe2 ON agents_toolspan (task_id)",
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="agentevent",
            index=models.Index(
                condition=models.Q(("task__isnull", False)), fields=["task"], name="event_task"
            ),
        ),
        migrations.AddIndex(
            model_name="agentevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)), fields=["actor"], name="event_actor"
            ),
        ),
        migrations.AddIndex(
            model_name="toolspan",
            index=models.Index(
                condition=models.Q(("task__isnull", False)), fields=["task"], name="span_task"
            ),
        ),
    ]
