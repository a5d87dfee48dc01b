"""Times that clients report (event ts, span start and finish): within a sane window.

A time that is valid ISO 8601 can still break every reader once stored (year 1, or
9999-12-31T23:30-01:00, which overflows on conversion to UTC). Accept from 2000-01-01 to a day
ahead of now (clocks drift; further ahead is a broken clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)
WINDOW_MESSAGE = "From 2000 to a day from now."


def in_window(moment: datetime) -> bool:
    return EARLIEST <= moment <= timezone.now() + AHEAD


class ReportedTimeField(serializers.DateTimeField):
    """A DateTimeField refusing times outside the window with a 400."""

    def to_internal_value(self, value: Any) -> datetime:
        try:
            parsed = super().to_internal_value(value)
            ok = in_window(parsed)
        except (OverflowError, ValueError):
            ok = False
        if not ok:
            raise serializers.ValidationError(WINDOW_MESSAGE)
        return parsed
