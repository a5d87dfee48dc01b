"""A small Linear GraphQL client that respects Linear's rate limits.

Linear limits requests and query complexity per hour and reports both in X-RateLimit-*
headers. The client slows down before a limit is reached (spreading the remaining budget
over the time to the reset), and after a 429 or a RATELIMITED error waits for the reset:
inline when it is near, otherwise by raising RateLimited so the Celery task retries later
from its cursor. Every such decision is reported through `on_note` for the sync log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from apps.core import crypto
from apps.linear.models import LinearConnection

logger = logging.getLogger(__name__)

# Below this share of the hourly budget the client starts pacing itself.
SLOW_DOWN_BELOW = 0.05
SLOW_DOWN_MIN_REMAINING = 5


class LinearError(Exception):
    """Linear answered with errors (a refusal: bad input, not allowed, ...)."""


class LinearAuthError(LinearError):
    pass


class LinearUnavailable(LinearError):
    """Network trouble or a 5xx: worth retrying."""


class RateLimited(LinearError):
    def __init__(self, message: str, retry_at: float) -> None:
        super().__init__(message)
        self.retry_at = retry_at

    @property
    def wait_seconds(self) -> float:
        return max(0.0, self.retry_at - time.time())


class NotConfigured(LinearError):
    pass


@dataclass
class RateBudget:
    requests_remaining: int | None = None
    requests_limit: int | None = None
    complexity_remaining: int | None = None
    complexity_limit: int | None = None
    reset_at: float | None = None  # epoch seconds


def _header_int(headers: Any, name: str) -> int | None:
    try:
        return int(float(headers.get(name)))
    except (TypeError, ValueError):
        return None


@dataclass
class LinearClient:
    api_url: str
    api_key: str
    on_note: Callable[[str], None] | None = None
    max_inline_wait: float = 20.0
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    budget: RateBudget = field(default_factory=RateBudget)
    session: requests.Session = field(default_factory=requests.Session)

    def note(self, message: str) -> None:
        logger.info("linear: %s", message)
        if self.on_note is not None:
            self.on_note(message)

    # --- the one entry point ---------------------------------------------------------------
    def execute(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        for attempt in range(4):
            self._pace()
            response = self._post(document, variables or {})
            self._read_budget(response.headers)
            limited = self._rate_limited(response)
            if limited is not None:
                wait = limited.wait_seconds
                if wait > self.max_inline_wait or attempt == 3:
                    self.note(f"Rate limited by Linear; resuming after the reset in {wait:.0f}s.")
                    raise limited
                self.note(f"Rate limited by Linear; waiting {wait:.1f}s for the reset.")
                self.sleep(wait)
                continue
            return self._data(response)
        raise LinearUnavailable("Linear kept refusing the request.")

    # --- internals ---------------------------------------------------------------------------
    def _post(self, document: str, variables: dict[str, Any]) -> requests.Response:
        self.requests_made += 1
        try:
            return self.session.post(
                self.api_url,
                json={"query": document, "variables": variables},
                headers={"Authorization": self.api_key, "Content-Type": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise LinearUnavailable(f"Could not reach Linear: {exc.__class__.__name__}") from exc

    def _read_budget(self, headers: Any) -> None:
        b = self.budget
        b.requests_remaining = _header_int(headers, "X-RateLimit-Requests-Remaining")
        b.requests_limit = _header_int(headers, "X-RateLimit-Requests-Limit")
        b.complexity_remaining = _header_int(headers, "X-RateLimit-Complexity-Remaining")
        b.complexity_limit = _header_int(headers, "X-RateLimit-Complexity-Limit")
        resets = [
            _header_int(headers, "X-RateLimit-Requests-Reset"),
            _header_int(headers, "X-RateLimit-Complexity-Reset"),
        ]
        # Linear sends the reset as epoch milliseconds.
        known = [r / 1000 for r in resets if r]
        b.reset_at = max(known) if known else None

    def _pace(self) -> None:
        """Spread what is left of the budget over the time to the reset."""
        b = self.budget
        if b.reset_at is None:
            return
        lows = []
        for remaining, limit in (
            (b.requests_remaining, b.requests_limit),
            (b.complexity_remaining, b.complexity_limit),
        ):
            if remaining is None:
                continue
            threshold = max(SLOW_DOWN_MIN_REMAINING, int((limit or 0) * SLOW_DOWN_BELOW))
            if remaining <= threshold:
                lows.append(max(remaining, 1))
        if not lows:
            return
        to_reset = max(0.0, b.reset_at - time.time())
        spent = [r for r in (b.requests_remaining, b.complexity_remaining)
                 if r is not None and r <= 0]
        if spent and to_reset > 0:
            # Nothing left until the reset: sending now could only earn a 429.
            if to_reset > self.max_inline_wait:
                self.note(f"Linear's rate limit is spent; resuming after the reset in "
                          f"{to_reset:.0f}s.")
                raise RateLimited("Linear rate limit spent.", b.reset_at)
            self.note(f"Linear's rate limit is spent; waiting {to_reset:.1f}s for the reset.")
            self.sleep(to_reset)
            return
        delay = min(to_reset / min(lows), self.max_inline_wait)
        if delay > 0.01:
            self.note(
                f"Close to Linear's rate limit ({min(lows)} left until the reset in "
                f"{to_reset:.0f}s); slowing down by {delay:.1f}s."
            )
            self.sleep(delay)

    def _rate_limited(self, response: requests.Response) -> RateLimited | None:
        is_limited = response.status_code == 429
        if not is_limited and response.status_code in (200, 400):
            try:
                errors = response.json().get("errors") or []
            except ValueError:
                errors = []
            is_limited = any(
                (e.get("extensions") or {}).get("code") == "RATELIMITED" for e in errors
            )
        if not is_limited:
            return None
        retry_at = self.budget.reset_at
        retry_after = _header_int(response.headers, "Retry-After")
        if retry_after is not None:
            retry_at = time.time() + retry_after
        if retry_at is None:
            retry_at = time.time() + 60
        return RateLimited("Linear rate limit reached.", retry_at)

    def _data(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code in (401, 403):
            raise LinearAuthError("Linear rejected the API key.")
        if response.status_code >= 500:
            raise LinearUnavailable(f"Linear answered {response.status_code}.")
        try:
            body = response.json()
        except ValueError:
            raise LinearUnavailable(
                f"Linear answered {response.status_code} without JSON."
            ) from None
        errors = body.get("errors") or []
        if errors:
            codes = {(e.get("extensions") or {}).get("code") for e in errors}
            message = "; ".join(str(e.get("message", "error")) for e in errors)[:500]
            if "AUTHENTICATION_ERROR" in codes:
                raise LinearAuthError(message)
            raise LinearError(message)
        if response.status_code != 200:
            raise LinearError(f"Linear answered {response.status_code}.")
        return body.get("data") or {}


def connection_client(
    connection: LinearConnection | None = None, *, on_note: Callable[[str], None] | None = None
) -> LinearClient:
    """The client for the configured connection: env key first, then the stored one."""
    connection = connection or LinearConnection.get()
    api_key = settings.LINEAR_API_KEY or crypto.decrypt(connection.api_key_encrypted)
    if not api_key:
        raise NotConfigured("No Linear API key: set LINEAR_API_KEY or enter one in settings.")
    return LinearClient(
        api_url=connection.api_url or settings.LINEAR_API_URL, api_key=api_key, on_note=on_note
    )
