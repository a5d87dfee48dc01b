"""Number formats of the bench pages: latencies, rates and signed changes."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()
DASH = "–"


@register.filter
def ms(value: Any) -> str:
    """12.3 ms, 245 ms, 1.42 s: latencies as people read them."""
    if value is None or value == "":
        return DASH
    v = float(value)
    if v >= 10_000:
        return f"{v / 1000:.1f} s"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    return f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


@register.filter
def rate(value: Any, digits: int = 1) -> str:
    """A per-second figure with thousands separators; a dash for none."""
    if value is None or value == "":
        return DASH
    return f"{float(value):,.{int(digits)}f}"


@register.filter
def signed_pct(value: Any) -> str:
    if value is None or value == "":
        return DASH
    v = float(value)
    return f"{v:+.1f} %" if abs(v) < 100 else f"{v:+.0f} %"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None
