from __future__ import annotations

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Stable cursor pagination, newest first; `?limit=` up to 500."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
