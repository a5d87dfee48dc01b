"""`manage.py telemetry rollup`: bring every rollup up to now, once (safe while beat runs it).
`manage.py telemetry report --cadence daily|weekly [--project slug]`: the report of the latest
complete day or week, built (once; later runs print the stored one) and printed as Markdown.
`manage.py telemetry retention`: apply the retention windows once, printing what went per kind
(safe while beat runs it: the two take turns chunk by chunk)."""

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
        retention = sub.add_parser(
            "retention", help="Delete what is older than each kind's retention window, once."
        )
        retention.add_argument("--budget", type=float, default=None,
                               help="Stop after this many seconds (default: when done).")
        retention.add_argument("--pause", type=float, default=None,
                               help="Seconds between chunks (default 0.05, as beat; 0: back to "
                                    "back, about three times faster, harder on ingestion).")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "rollup":
            self._rollup()
        elif action == "report":
            self._report(options["cadence"], options["project"])
        elif action == "retention":
            self._retention(budget=options["budget"], pause=options["pause"])

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

    def _retention(self, *, budget: float | None, pause: float | None) -> None:
        from apps.telemetry.models import RETENTION_KINDS
        from apps.telemetry.retention import PAUSE, apply_retention

        outcome = apply_retention(budget=budget, pause=PAUSE if pause is None else pause)
        for kind in RETENTION_KINDS:
            days = outcome.windows[kind.key]
            if not days:
                self.stdout.write(f"{kind.label}: kept forever")
                continue
            verb = "emptied" if kind.key == "span_payloads" else "deleted"
            line = f"{kind.label} (older than {days} d): {verb} {outcome.changed[kind.key]:,}"
            if kind.key == "notifications":
                line += f" with {outcome.changed['deliveries']:,} deliveries"
            self.stdout.write(line)
        rate = outcome.total / outcome.seconds if outcome.seconds else 0.0
        self.stdout.write(
            f"{outcome.total:,} rows in {outcome.seconds:.1f} s ({rate:,.0f} rows/s)"
            + ("; stopped at the time budget, run again for the rest." if outcome.behind else ".")
        )
