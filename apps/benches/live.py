"""Tells open pages that a run changed: ids and primitives only, the consumer renders."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.realtime.groups import bench_run_group, benches_group
from apps.realtime.publish import publish


def announce(run: Any, *, on_commit: bool = True) -> None:
    message = {"type": "bench.run", "run": run.pk, "version": run.version, "state": run.state}

    def send() -> None:
        publish(bench_run_group(run.pk), message)
        publish(benches_group(run.project_id), message)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()
