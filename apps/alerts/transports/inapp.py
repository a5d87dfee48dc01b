"""In-app: the alert is already in the inbox; delivering means every badge recounts."""

from __future__ import annotations

from apps.alerts import badge


def send(delivery, message) -> str:  # noqa: ANN001 (see transports/__init__.py)
    badge.changed()
    return "in the inbox"
