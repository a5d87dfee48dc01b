"""Query parameters read strictly: a filter that cannot be understood is a 400 with the reason,
never ignored (a silently dropped filter returns rows the client did not ask for)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError

MAX_ID = 2**63 - 1


def id_param(request: Any, name: str) -> int | None:
    """The id in `?name=`, or None when absent. Given but empty is a 400 like any other value
    that is not an id: a filter the client meant to set is never silently dropped."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ValidationError({name: ["Give it once."]})
    if not values:
        return None
    raw = values[0]
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_ID:
        raise ValidationError({name: ["Must be an id (a whole number)."]})
    return int(raw)
