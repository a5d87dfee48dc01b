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
def msn(value: Any) -> str:
    """A latency in ms without its unit, for tables whose header names it."""
    if value is None or value == "":
        return DASH
    v = float(value)
    return f"{v:.1f}" if v < 100 else f"{v:,.0f}"


@register.filter
def took(start: Any, end: Any) -> str:
    """16 s, 4 min 5 s, 2 h 3 min: how long from start to end."""
    if not start or not end:
        return DASH
    seconds = max(int((end - start).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


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
