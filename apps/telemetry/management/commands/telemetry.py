"""`manage.py telemetry rollup`: bring every rollup up to now, once (safe while beat runs it).
`manage.py telemetry report --cadence daily|weekly [--project slug]`: the report of the latest
complete day or week, built (once; later runs print the stored one) and printed as Markdown."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Telemetry upkeep and reports, once, for scripts and operators."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("rollup", help="Bring every rollup up to now (minus the lag), once.")
        report = sub.add_parser(
            "report", help="Build the report of the latest complete period and print it as "
                           "Markdown.")
        report.add_argument("--cadence", choices=("daily", "weekly"), required=True)
        report.add_argument("--project", default="", help="A project's slug; default: all.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "rollup":
            self._rollup()
        elif action == "report":
            self._report(options["cadence"], options["project"])

    def _rollup(self) -> None:
        from apps.telemetry.rollups import lag_seconds, roll_up

        progress = roll_up()
        self.stdout.write(
            f"Rolled up {progress.events:,} event ids and {progress.usage_hours:,} "
            f"project-hours of token usage in {progress.seconds:.1f} s; "
            f"behind by {lag_seconds():.0f} s now."
        )

    def _report(self, cadence: str, slug: str) -> None:
        from apps.projects.models import Project
        from apps.telemetry.digest import Digest, markdown, report_url
        from apps.telemetry.reports import latest_period
        from apps.telemetry.rollups import roll_up
        from apps.telemetry.services import report_for

        project = None
        if slug:
            project = Project.objects.filter(slug=slug).first()
            if project is None:
                raise CommandError(f"No project with the slug {slug!r}.")
        roll_up()  # so the period's last minutes are counted
        report = report_for(period=latest_period(cadence), project=project)
        self.stdout.write(markdown(Digest(report.content, url=report_url(report.pk))), ending="")
