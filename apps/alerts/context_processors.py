"""The header's unread-alerts badge on every page: lazy (nothing runs unless the header
renders it) and one cache round trip (see badge.py)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from apps.core import roles


class Badge:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id

    @cached_property
    def count(self) -> int:
        from apps.alerts.badge import unread_count

        try:
            return unread_count(self.user_id)
        except Exception:  # a badge must never break a page (e.g. before migrations ran)
            return 0

    @property
    def label(self) -> str:
        return "99+" if self.count > 99 else str(self.count)


def alerts_badge(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not roles.is_member(user):
        return {}
    return {"alerts_badge": Badge(user.pk)}
