"""Global search: each app contributes one provider (registered in its AppConfig.ready()), the
header box and /search/ show their hits grouped. A provider gets the query and the project in
scope (None: every active project) and returns at most `limit` hits in one or two queries, so a
search costs a fixed number of queries whatever the data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIN_LENGTH = 2
MAX_LENGTH = 100
PER_GROUP = 6


@dataclass(frozen=True)
class Hit:
    title: str
    url: str
    meta: str = ""


@dataclass(frozen=True)
class Provider:
    key: str
    label: str
    order: int
    find: Callable[..., list[Hit]]


@dataclass
class Group:
    key: str
    label: str
    hits: list[Hit] = field(default_factory=list)


PROVIDERS: dict[str, Provider] = {}


def register_search(key: str, label: str, find: Callable[..., list[Hit]], *, order: int) -> None:
    PROVIDERS[key] = Provider(key, label, order, find)


def clean_query(raw: Any) -> str:
    return " ".join(str(raw or "").split())[:MAX_LENGTH]


def search(query: str, *, project: Any, limit: int = PER_GROUP) -> list[Group]:
    """Non-empty groups in the providers' order; nothing for a query under MIN_LENGTH."""
    query = clean_query(query)
    if len(query) < MIN_LENGTH:
        return []
    groups = []
    for provider in sorted(PROVIDERS.values(), key=lambda p: p.order):
        hits = provider.find(query, project=project, limit=limit)
        if hits:
            groups.append(Group(provider.key, provider.label, hits))
    return groups
