"""Reads of what agents exported as OpenTelemetry metrics."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from apps.otlp.models import Counter

# (metric, attribute value or "") → label, in the order shown. Token and cost counters are
# left out: the usage table above them counts each call once, from events.
KNOWN = {
    ("claude_code.lines_of_code.count", "added"): "Lines added",
    ("claude_code.lines_of_code.count", "removed"): "Lines removed",
    ("claude_code.commit.count", ""): "Commits",
    ("claude_code.pull_request.count", ""): "Pull requests",
    ("claude_code.code_edit_tool.decision", "accept"): "Edits accepted",
    ("claude_code.code_edit_tool.decision", "reject"): "Edits rejected",
    ("claude_code.active_time.total", ""): "Active time",
    ("claude_code.session.count", ""): "Sessions started",
    ("gemini_cli.lines.changed", "added"): "Lines added",
    ("gemini_cli.lines.changed", "removed"): "Lines removed",
    ("gemini_cli.tool.call.count", ""): "Tool calls",
    ("gemini_cli.session.count", ""): "Sessions started",
}
SKIPPED = ("token", "cost", "gen_ai.client.operation.duration")
DETAIL = ("type", "decision")


@dataclass
class Figure:
    label: str
    value: float
    unit: str

    @property
    def display(self) -> str:
        if self.unit == "s":
            minutes, seconds = divmod(int(round(self.value)), 60)
            hours, minutes = divmod(minutes, 60)
            return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"
        if self.value == int(self.value):
            return f"{int(self.value):,}"
        return f"{self.value:,.2f}"


def agent_figures(agent_id: int) -> list[Figure]:
    """The agent's counters: the known ones labelled, any other by its metric name."""
    totals: dict[str, Figure] = {}
    others: dict[str, Figure] = defaultdict(lambda: Figure("", 0, ""))
    for name, attributes, total, unit in Counter.objects.filter(agent_id=agent_id) \
            .values_list("name", "attributes", "total", "unit"):
        detail = next((str(attributes[k]) for k in DETAIL if k in (attributes or {})), "")
        label = KNOWN.get((name, detail)) or KNOWN.get((name, ""))
        if label:
            figure = totals.setdefault(label, Figure(label, 0, unit))
            figure.value += total
        elif not any(word in name for word in SKIPPED):
            figure = others[name]
            figure.label, figure.unit = name, unit
            figure.value += total
    order = list(dict.fromkeys(KNOWN.values()))
    known = sorted(totals.values(), key=lambda f: order.index(f.label))
    return known + sorted(others.values(), key=lambda f: f.label)[:12]
