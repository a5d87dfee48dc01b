"""Notification transports: one small module per channel behind one registry dict.

Each transport is `send(delivery, message) -> str` (a short note for the attempt log) and
raises TransportError on failure; `retryable=False` means trying again cannot help (a gone
push subscription, a rejected payload)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.alerts.messages import Message
    from apps.alerts.models import Delivery

TIMEOUT_SECONDS = 10


class TransportError(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def http_error(status: int, body: str = "") -> TransportError:
    """4xx other than 408/429 will fail the same way again; 5xx and throttling may pass later.
    The receiver's answer is not repeated: it is shown on pages, and a foreign server's body
    is not ours to show (a probe of an internal service would read it there)."""
    retryable = status >= 500 or status in (408, 425, 429)
    return TransportError(f"HTTP {status}", retryable=retryable)


def guard(url: str, *, https_only: bool = False) -> None:
    """Refuse, before sending, a target that now resolves to a private address."""
    from django.core.exceptions import ValidationError

    from apps.alerts.targets import check_target

    try:
        check_target(url, https_only=https_only)
    except ValidationError as exc:
        raise TransportError(" ".join(exc.messages), retryable=False) from None


Transport = Callable[["Delivery", "Message"], str]


def registry() -> dict[str, Transport]:
    from apps.alerts.transports import email, inapp, slack, webhook, webpush

    return {
        "inapp": inapp.send,
        "email": email.send,
        "slack": slack.send,
        "webhook": webhook.send,
        "webpush": webpush.send,
    }
