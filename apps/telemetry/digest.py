"""Scheduled reports, the writing side: a stored report's content as the page, Markdown, email
and Slack show it. Everything is formatted here from the stored figures, never re-read from
the rollups, so an old report reads as it was sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.telemetry.analytics import fmt_ms
from apps.telemetry.selectors import fmt_tokens, fmt_usd

GROUP_TITLES = {"agent": "Top agents", "model": "Top models", "issue": "Top Linear issues"}
GROUP_LABELS = {"agent": "Agent", "model": "Model", "issue": "Linear issue"}


def pct_change(current: Any, previous: Any) -> float | None:
    if current is None or previous is None:
        return None
    current, previous = Decimal(str(current)), Decimal(str(previous))
    if not previous:
        return None
    return float(100 * (current - previous) / previous)


@dataclass
class Delta:
    """A change against the previous period, and whether it is good news."""

    pct: float | None
    current: Any
    higher_is_better: bool = False
    neutral: bool = False  # neither direction is news (how busy the agents were)

    @property
    def text(self) -> str:
        if self.pct is None:
            return "new" if self.current else "—"
        if abs(self.pct) < 0.5:
            return "±0 %"
        if self.pct > 999:
            return "> +999 %"
        return f"{'+' if self.pct > 0 else '−'}{abs(self.pct):.0f} %"

    @property
    def tone(self) -> str:
        """good, bad or flat: the page colours by it, the text says the direction."""
        if self.neutral or self.pct is None or abs(self.pct) < 1:
            return "flat"
        rising = self.pct > 0
        return "good" if rising == self.higher_is_better else "bad"

    @property
    def arrow(self) -> str:
        if self.pct is None or abs(self.pct) < 1:
            return ""
        return "▲" if self.pct > 0 else "▼"


def usd(value: Any) -> str:
    return fmt_usd(Decimal(str(value or 0)))


def pct(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f} %"


def count(value: Any) -> str:
    return f"{int(value or 0):,}"


def duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{max(minutes, 1) if seconds else 0} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def metric_text(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "usd":
        return usd(value)
    if unit == "pct":
        return pct(value)
    if unit == "ms":
        return fmt_ms(float(value))
    return count(value)


@dataclass
class Kpi:
    key: str
    label: str
    value: str
    previous: str
    delta: Delta
    note: str = ""


class Digest:
    """A report's stored content with what the page, the Markdown and the messages print."""

    def __init__(self, content: dict[str, Any], *, url: str = "") -> None:
        self.c = content
        self.url = url

    @property
    def title(self) -> str:
        return self.c.get("title", "Report")

    @property
    def cadence(self) -> str:
        return self.c.get("cadence", "")

    @property
    def unit(self) -> str:
        return "day" if self.cadence == "daily" else "week"

    @property
    def period_label(self) -> str:
        return self.c["period"]["label"]

    @property
    def scope_name(self) -> str:
        return self.c["scope"]["name"]

    @property
    def tz(self) -> str:
        return self.c["period"].get("tz", "UTC")

    def _moment(self, key: str, part: str = "period") -> datetime:
        import zoneinfo

        value = datetime.fromisoformat(self.c[part][key])
        return timezone.localtime(value, zoneinfo.ZoneInfo(self.tz))

    @property
    def range_text(self) -> str:
        start, end = self._moment("start"), self._moment("end")

        def moment(at: datetime) -> str:
            return f"{at:%a} {at.day} {at:%b %Y, %H:%M}"

        return f"{moment(start)} – {moment(end)} {self.tz}"

    # headline
    def _h(self, key: str) -> dict[str, Any]:
        return self.c["headline"][key]

    @cached_property
    def kpis(self) -> list[Kpi]:
        h = self._h
        cost, tokens, tools = h("cost_usd"), h("tokens"), h("tool_calls")
        errors, p95, tasks = h("error_rate"), h("p95_ms"), h("tasks")
        opened = self.c["alerts"]["opened"]
        unknown = h("unknown_price_calls")["current"]
        return [
            Kpi("cost", "Cost", usd(cost["current"]), usd(cost["previous"]),
                Delta(pct_change(cost["current"], cost["previous"]), Decimal(cost["current"])),
                f"{count(unknown)} call{'s' if unknown != 1 else ''} at unknown price"
                if unknown else ""),
            Kpi("tokens", "Tokens", fmt_tokens(tokens["current"]), fmt_tokens(tokens["previous"]),
                Delta(pct_change(tokens["current"], tokens["previous"]), tokens["current"]),
                f"{count(h('model_calls')['current'])} model calls"),
            Kpi("tool_calls", "Tool calls", count(tools["current"]), count(tools["previous"]),
                Delta(pct_change(tools["current"], tools["previous"]), tools["current"],
                      neutral=True)),
            Kpi("error_rate", "Tool error rate", pct(errors["current"]), pct(errors["previous"]),
                Delta(pct_change(errors["current"], errors["previous"]), errors["current"])),
            Kpi("p95", "Tool latency p95", metric_text(p95["current"], "ms"),
                metric_text(p95["previous"], "ms"),
                Delta(pct_change(p95["current"], p95["previous"]), p95["current"])),
            Kpi("tasks", "Tasks completed", count(tasks["current"]), count(tasks["previous"]),
                Delta(pct_change(tasks["current"], tasks["previous"]), tasks["current"],
                      higher_is_better=True)),
            Kpi("alerts", "Alerts opened", count(opened["current"]), count(opened["previous"]),
                Delta(pct_change(opened["current"], opened["previous"]), opened["current"])),
        ]

    @property
    def cost_kpi(self) -> Kpi:
        return self.kpis[0]

    # top lists
    @cached_property
    def tops(self) -> list[dict[str, Any]]:
        total = Decimal(self._h("cost_usd")["current"]) or Decimal(1)
        out = []
        for group in ("agent", "model", "issue"):
            rows = []
            for row in self.c["top"].get(group, []):
                cost = Decimal(row["cost_usd"])
                rows.append({
                    **row, "cost_text": usd(cost), "tokens_text": fmt_tokens(row["tokens"]),
                    "previous_text": usd(row["previous_cost_usd"])
                    if Decimal(row["previous_cost_usd"]) else "",
                    "delta": Delta(pct_change(cost, row["previous_cost_usd"]), cost),
                    "share": max(min(float(100 * cost / total), 100.0), 0.0),
                })
            out.append({"group": group, "title": GROUP_TITLES[group],
                        "label": GROUP_LABELS[group], "rows": rows})
        return out

    # anomalies
    @cached_property
    def checks(self) -> list[dict[str, Any]]:
        out = []
        for check in self.c["anomalies"]["checks"]:
            out.append({
                **check,
                "current_text": metric_text(check["current"], check["unit"]),
                "baseline_text": metric_text(check["baseline"], check["unit"]),
                "change_text": Delta(check["change_pct"], check["current"]).text
                if check["baseline"] is not None and check["current"] is not None
                else "not enough data",
                "rise_text": Delta(check["change_pct"], check["current"]).text.lstrip("+"),
                "tone": "bad" if check["flagged"] else "flat",
            })
        return out

    @property
    def flagged(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["flagged"]]

    @property
    def baseline_text(self) -> str:
        n = self.c["anomalies"]["periods"]
        return f"the mean of the {n} previous {self.unit}s"

    # alerts and blocked agents
    @property
    def alerts(self) -> dict[str, Any]:
        a = self.c["alerts"]
        return {
            "opened": count(a["opened"]["current"]), "resolved": count(a["resolved"]["current"]),
            "acknowledged": count(a["acknowledged"]["current"]),
            "previous_opened": count(a["opened"]["previous"]),
            "delta": Delta(pct_change(a["opened"]["current"], a["opened"]["previous"]),
                           a["opened"]["current"]),
            "rules": a["rules"],
        }

    @property
    def blocked(self) -> list[dict[str, Any]]:
        return [{**b, "duration": duration(b["seconds"])} for b in self.c["blocked"]]


# --- Markdown --------------------------------------------------------------------------------
def md(text: Any) -> str:
    """Text safe inside a Markdown table cell or line: no table breaks, no accidental markup."""
    out = " ".join(str(text).split())
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def markdown(digest: Digest) -> str:
    d = digest
    lines = [f"# {md(d.title)}", "",
             f"{d.range_text}, compared with the {d.unit} before.", ""]
    lines += ["## Headline", "", f"| | This {d.unit} | Previous | Change |", "|---|---:|---:|---:|"]
    for k in d.kpis:
        lines.append(f"| {k.label} | {k.value} | {k.previous} | {k.delta.text} |")
    cost = d.cost_kpi
    if cost.note:
        lines += ["", f"_{cost.note}: their cost is not counted._"]
    lines += ["", f"## Anomalies (against {d.baseline_text})", ""]
    if d.flagged:
        for c in d.flagged:
            lines.append(f"- **{c['label']}** up {c['rise_text']}: "
                         f"{c['current_text']} against {c['baseline_text']}")
    else:
        lines.append("Nothing unusual.")
    for top in d.tops:
        lines += ["", f"## {top['title']} by cost", ""]
        if not top["rows"]:
            lines.append("None.")
            continue
        lines += [f"| {top['label']} | Cost | Change | Tokens |", "|---|---:|---:|---:|"]
        lines += [f"| {md(r['label'])} | {r['cost_text']} | {r['delta'].text} | {r['tokens_text']} |"
                  for r in top["rows"]]
    a = d.alerts
    lines += ["", "## Alerts", "",
              f"{a['opened']} opened (previous {d.unit}: {a['previous_opened']}), "
              f"{a['acknowledged']} acknowledged, {a['resolved']} resolved."]
    if a["rules"]:
        lines += ["", "| Noisiest rules | Alerts | Fired |", "|---|---:|---:|"]
        lines += [f"| {md(r['name'])} | {r['alerts']} | {r['fired']} |" for r in a["rules"]]
    lines += ["", "## Blocked longest", ""]
    if d.blocked:
        lines += ["| Agent | Blocked | Blocks ended |", "|---|---:|---:|"]
        lines += [f"| {md(b['label'])}{' (still blocked)' if b['still_blocked'] else ''} | "
                  f"{b['duration']} | {b['unblocks']} |" for b in d.blocked]
    else:
        lines.append("No agent was blocked.")
    if d.url:
        lines += ["", f"[Open in Switchboard]({d.url})"]
    return "\n".join(lines) + "\n"


# --- Slack -------------------------------------------------------------------------------------
def _esc(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(digest: Digest) -> dict[str, Any]:
    """A compact incoming-webhook message: the headline, anomalies, the leaders, a link."""
    d = digest
    k = {kpi.key: kpi for kpi in d.kpis}
    title = f"*<{d.url}|{_esc(d.title)}>*" if d.url else f"*{_esc(d.title)}*"
    headline = " · ".join([
        f"*Cost* {k['cost'].value} ({k['cost'].delta.text})",
        f"*Tokens* {k['tokens'].value} ({k['tokens'].delta.text})",
        f"*Tool calls* {k['tool_calls'].value}, {k['error_rate'].value} errors",
        f"*p95* {k['p95'].value}",
        f"*Tasks* {k['tasks'].value}",
    ])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{title}\n{headline}"}},
    ]
    if d.flagged:
        lines = [f":warning: *{c['label']}* up {c['rise_text']} "
                 f"({c['current_text']} vs {c['baseline_text']})" for c in d.flagged]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    leaders = []
    for top in d.tops:
        if top["rows"]:
            names = ", ".join(f"{_esc(r['label'][:40])} {r['cost_text']}" for r in top["rows"][:3])
            leaders.append(f"*{top['title']}:* {names}")
    if leaders:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(leaders)}})
    a = d.alerts
    context = [f"Alerts: {a['opened']} opened, {a['resolved']} resolved"]
    if d.blocked:
        b = d.blocked[0]
        context.append(f"blocked longest: {_esc(b['label'][:40])} ({b['duration']})")
    blocks.append({"type": "context",
                   "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    fallback = f"{d.title}: cost {k['cost'].value} ({k['cost'].delta.text})"
    return {"text": fallback, "blocks": blocks}


# --- the alerts transports' message ------------------------------------------------------------
def report_url(report_id: int) -> str:
    from apps.core.links import absolute_url

    return absolute_url(reverse("report-detail", args=[report_id]))


def build_message(notification: Any) -> Any:
    """What a "report:<id>" notification says on every channel (registered with
    apps.alerts.messages from TelemetryConfig.ready)."""
    from apps.alerts.messages import Message
    from apps.telemetry.models import Report

    report = Report.objects.get(pk=int(notification.subject.partition(":")[2]))
    url = report_url(report.pk)
    digest = Digest(report.content, url=url)
    text = markdown(digest)
    html = render_to_string("telemetry/email/report.html",
                            {"d": digest, "title": notification.title, "url": url})
    return Message(
        title=notification.title, text=text, html=html, url=url, severity="info",
        event_type="report.digest",
        payload={"report_id": report.pk, "title": notification.title, "url": url,
                 "body": "", "held_back": []},
        slack=slack_payload(digest),
    )
