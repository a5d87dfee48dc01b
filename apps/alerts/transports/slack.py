"""Slack incoming webhook: a fallback `text` plus Block Kit blocks."""

from __future__ import annotations

import requests

from apps.alerts.transports import TIMEOUT_SECONDS, TransportError, guard, http_error

ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}


def payload(message) -> dict:  # noqa: ANN001
    if getattr(message, "slack", None):
        return message.slack
    icon = ICON.get(message.severity, "")
    blocks: list[dict] = [
        {"type": "section",
         "text": {"type": "mrkdwn", "text": f"{icon} *<{message.url}|{_esc(message.title)}>*"}},
    ]
    body = message.payload.get("body") or ""
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _esc(body)[:2900]}})
    held = message.payload.get("held_back") or []
    if held:
        lines = "\n".join(f"• {_esc(h['title'])} ({h['reason']})" for h in held[:20])
        more = f"\n…and {len(held) - 20} more" if len(held) > 20 else ""
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                       "text": f"*Held back ({len(held)}):*\n{lines}{more}"}})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"Switchboard · {message.severity}"}]})
    return {"text": f"{message.title} ({message.severity})", "blocks": blocks}


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send(delivery, message) -> str:  # noqa: ANN001
    url = delivery.team_channel.url
    guard(url)
    try:
        r = requests.post(url, json=payload(message), timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise TransportError(f"Slack unreachable: {exc.__class__.__name__}") from exc
    if r.status_code != 200:
        raise http_error(r.status_code, r.text)
    return f"Slack answered {r.status_code}"
