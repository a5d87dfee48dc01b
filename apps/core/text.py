"""Text every reader can handle: well-formed Unicode without NUL characters."""

from __future__ import annotations

import json
import re
from typing import Any

# A NUL as json.dumps writes it (\u0000), not a literal backslash-u0000 in the text (\\u0000).
NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def bad_text(value: Any) -> str:
    """Why `value` (parsed JSON) cannot be stored as it is, or '' when it can. A lone surrogate
    is not UTF-8 (every reader and renderer fails on it); PostgreSQL refuses NUL in text and
    JSON; absurd nesting breaks the readers' recursion."""
    try:
        text = json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "not well-formed Unicode (a lone surrogate)"
    except (RecursionError, ValueError, TypeError):
        return "nested too deeply or not JSON"
    if "\\u0000" in text and NUL_ESCAPE.search(text):
        return "contains a NUL character"
    return ""
