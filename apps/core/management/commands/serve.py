"""Start the whole platform: HTTP + WebSockets (daphne), and in the embedded mode a Celery
worker and beat inside this process."""

from __future__ import annotations

import faulthandler
import os
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run Switchboard: web + WebSockets (+ embedded worker and beat without REDIS_URL)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Do not run the embedded worker and beat (production runs them apart).",
        )

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, **options: Any) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from apps.accounts.services import claim_token_issue_if_needed
        from apps.core.embedded import EmbeddedCelery
        from config.asgi import application

        # `kill -USR1 <pid>` prints every thread's stack: how to see what a stuck worker is doing.
        faulthandler.register(signal.SIGUSR1, all_threads=True)

        embedded = None
        if settings.EMBEDDED and not no_worker:
            embedded = EmbeddedCelery()
            embedded.start()

        base = settings.SITE_URL or f"http://{host}:{port}"
        raw = claim_token_issue_if_needed()
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Switchboard is running at {base}/"))
        if raw:
            self.stdout.write(
                self.style.WARNING(
                    f"No account exists yet. Claim the owner account (one use, 24 h): "
                    f"{base}/claim/{raw}/"
                )
            )
        mode = "embedded (SQLite, in-process worker)" if embedded else "external services"
        self.stdout.write(f"Mode: {mode}. Data dir: {settings.DATA_DIR}")
        self.stdout.flush()
        try:
            Server(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                signal_handlers=True,
                websocket_timeout=86400,
                application_close_timeout=10,
                verbosity=0,
            ).run()
        finally:
            if embedded is not None:
                embedded.stop()
