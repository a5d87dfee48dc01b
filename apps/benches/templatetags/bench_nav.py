"""The Benches section's tabs (Endpoints · Suites · Runs), on every bench page."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

register = template.Library()

TABS = (("endpoints", "Endpoints", "benches"), ("suites", "Suites", "bench-suites"),
        ("runs", "Runs", "bench-runs"))


def tab_of(url_name: str) -> str:
    """Which tab a bench page belongs to: runs, their comparison and history under Runs."""
    if url_name == "benches" or url_name.startswith("bench-endpoint"):
        return "endpoints"
    if url_name.startswith("bench-suite"):
        return "suites"
    return "runs"


@register.inclusion_tag("benches/_tabs.html", takes_context=True)
def bench_tabs(context: Any) -> dict[str, Any]:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    current = tab_of(match.url_name or "") if match is not None else ""
    return {"tabs": [{"key": key, "label": label, "url": reverse(name), "current": key == current}
                     for key, label, name in TABS]}
