"""The API's JSON parser: refuses, with a 400, bodies no reader could handle once stored."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from apps.core.text import bad_text


class StrictJSONParser(JSONParser):
    """A view with `per_item_text_checks = True` (the events batch) checks each item itself,
    so one bad event does not cost the whole batch."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        view = (parser_context or {}).get("view")
        if not getattr(view, "per_item_text_checks", False):
            problem = bad_text(data)
            if problem:
                raise ParseError(f"The body is {problem}." if "Unicode" in problem
                                 else f"The body {problem}.")
        return data
