"""JSON for the API that never fails on a row stored before the door checked its text.

DRF renders with ensure_ascii=False, so a lone surrogate (which SQLite keeps inside JSON text)
raises UnicodeEncodeError and every list holding that row answers 500. Such a body is rendered
again with ASCII escapes: valid JSON, the odd character shown as its \\u escape."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer


class SafeJSONRenderer(JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            escaped = SafeJSONRenderer()
            escaped.ensure_ascii = True
            return escaped.render(data, accepted_media_type, renderer_context)
