"""Start the whole platform in one process: HTTP + WebSockets, and in the embedded mode a Celery
worker and beat.

The server is granian's embedded server (Rust HTTP, on this process's asyncio loop): WebSockets
go to Channels on the loop, plain HTTP to the WSGI application on SERVE_THREADS threads (see
config/asgi.py). `--server daphne` runs the former daphne set-up (Django's ASGI path for HTTP)."""

from __future__ import annotations

import asyncio
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
            "--server",
            choices=["granian", "daphne"],
            default=os.environ.get("SERVE_WITH", "granian"),
            help="granian (default): HTTP through the WSGI application on a thread pool; "
            "daphne: everything through Django's ASGI path.",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=int(os.environ.get("SERVE_THREADS", "8")),
            help="Threads serving plain HTTP (granian only).",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Do not run the embedded worker and beat (production runs them apart).",
        )

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, server: str,
               threads: int, **options: Any) -> None:
        from apps.accounts.services import claim_token_issue_if_needed
        from apps.core.embedded import EmbeddedCelery

        # `kill -USR1 <pid>` prints every thread's stack: how to see what a stuck worker is doing.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        from apps.core.db.sqlite3.base import enable_writer_queue

        enable_writer_queue()  # SQLite: this process's writers wait in line, not in sleeps

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
            if server == "daphne":
                _daphne(host, port)
            else:
                asyncio.run(_granian(host, port, threads))
        finally:
            if embedded is not None:
                embedded.stop()


def _granian(host: str, port: int, threads: int) -> Any:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    from config.asgi import one_process_application

    # Errors only: its "experimental" warning and start-up lines say nothing to a user.
    granian = Server(one_process_application(threads), address=host, port=port,
                     interface=Interfaces.ASGINL, websockets=True, backlog=2048,
                     log_level=LogLevels.error)

    async def serve() -> None:
        from apps.realtime import hub

        loop = asyncio.get_running_loop()
        hub.serving_loop = loop  # where writes in HTTP threads hand over live messages
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, granian.stop)
        await granian.serve()

    return serve()


def _daphne(host: str, port: int) -> None:
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server

    from config.asgi import application

    Server(
        application=application,
        endpoints=build_endpoint_description_strings(host=host, port=port),
        signal_handlers=True,
        websocket_timeout=86400,
        application_close_timeout=10,
        verbosity=0,
    ).run()
