"""`manage.py telemetry rollup`: bring every rollup up to now, once (safe while beat runs it).
`manage.py telemetry retention`: apply the retention windows once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Telemetry upkeep: rollups and retention, once, for scripts and operators."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("rollup", help="Bring every rollup up to now (minus the lag), once.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "rollup":
            self._rollup()

    def _rollup(self) -> None:
        from apps.telemetry.rollups import lag_seconds, roll_up

        progress = roll_up()
        self.stdout.write(
            f"Rolled up {progress.events:,} event ids and {progress.usage_hours:,} "
            f"project-hours of token usage in {progress.seconds:.1f} s; "
            f"behind by {lag_seconds():.0f} s now."
        )
