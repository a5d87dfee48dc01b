"""Reads of the endpoint registry shared by the page, its live consumer and the API."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from django.db.models import QuerySet

from apps.benches.models import Endpoint


def endpoints_for(project: object | None) -> QuerySet[Endpoint]:
    """One project's endpoints, or every active project's (None) when the page shows all."""
    qs = Endpoint.objects.select_related("project").order_by("project__name", "name")
    if project is not None:
        return qs.filter(project=project)
    return qs.filter(project__archived=False)


def endpoint_row(pk: int) -> Endpoint | None:
    return Endpoint.objects.select_related("project").filter(pk=pk).first()


def list_version(endpoints: Iterable[Endpoint]) -> int:
    """A fingerprint of the cards shown: a snapshot with the same one changes nothing."""
    key = ",".join(f"{e.pk}:{e.version}" for e in endpoints)
    return zlib.crc32(key.encode()) or 1
