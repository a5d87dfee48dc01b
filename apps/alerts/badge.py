"""The unread badge in the header: one cache round trip per page, one query on a miss.

"Unread" = open alerts opened since the person last looked at the inbox (repeats of an
alert they have seen are not news, nor are snoozed ones). A generation key
changes whenever alerts change, which makes every cached count stale at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Subquery, Value
from django.db.models.functions import Coalesce

GEN_KEY = "alerts:badge:gen"
TTL = 300
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _user_key(user_id: int) -> str:
    return f"alerts:badge:u{user_id}"


def changed() -> None:
    transaction.on_commit(lambda: cache.set(GEN_KEY, uuid.uuid4().hex, None))


def forget(user_id: int) -> None:
    cache.delete(_user_key(user_id))


def unread_count(user_id: int) -> int:
    from apps.alerts.models import Alert, AlertState, PersonalSettings

    got = cache.get_many([GEN_KEY, _user_key(user_id)])
    gen = got.get(GEN_KEY) or ""
    cached = got.get(_user_key(user_id))
    if cached is not None and cached[0] == gen:
        return cached[1]
    seen = PersonalSettings.objects.filter(user_id=user_id).values("inbox_seen_at")[:1]
    from django.utils import timezone

    count = Alert.objects.filter(
        state=AlertState.OPEN, opened_at__gt=Coalesce(Subquery(seen), Value(EPOCH))
    ).exclude(snoozed_until__gt=timezone.now()).count()  # snoozed: not news until it wakes
    cache.set(_user_key(user_id), (gen, count), TTL)
    return count
