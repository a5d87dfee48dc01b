"""Base consumer for live pages.

Connect: authenticate (anonymous or outsider: accept then close with 4401/4403), resolve the
projects the page shows (`?project=<slug>` or every active project), join their groups, send a
snapshot. Then every `sb.event` from the channel layer becomes an HTML fragment rendered from
the same partial templates the page uses; static/js/live.js applies it only if its
`data-version` is newer than what the DOM has.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer

from apps.core import roles
from apps.realtime.groups import project_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class LivePageConsumer(WebsocketConsumer):
    """Subclasses implement `render_snapshot()` and `render_event(message)`; both return HTML
    (one or more top-level elements with id + data-version) or "" for nothing to send."""

    groups_joined: list[str]

    def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            self.accept()
            self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not roles.is_member(user):
            self.accept()
            self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.query = {k: v[-1] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        self.project_ids = self.resolve_project_ids()
        for group in self.groups():
            async_to_sync(self.channel_layer.group_add)(group, self.channel_name)
            self.groups_joined.append(group)
        self.accept()
        self.send_html(self.render_snapshot())

    def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            async_to_sync(self.channel_layer.group_discard)(group, self.channel_name)

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The page may ask for a fresh snapshot (after it missed messages).
        if text_data and '"resync"' in text_data:
            self.send_html(self.render_snapshot())

    # --- channel layer handlers -----------------------------------------------------------
    def sb_event(self, message: dict[str, Any]) -> None:
        if message.get("project_id") not in self.project_ids:
            return
        try:
            html = self.render_event(message)
        except Exception:  # one bad render must not kill the socket
            logger.exception("rendering %s for %s failed", message.get("kind"), type(self).__name__)
            return
        self.send_html(html)

    # --- for subclasses --------------------------------------------------------------------
    def resolve_project_ids(self) -> set[int]:
        from apps.projects.models import Project

        slug = self.query.get("project", "")
        qs = Project.objects.active()
        if slug and slug != "all":
            qs = qs.filter(slug=slug)
        return set(qs.values_list("id", flat=True))

    def groups(self) -> list[str]:
        return [project_group(pid) for pid in sorted(self.project_ids)]

    def render_snapshot(self) -> str:
        raise NotImplementedError

    def render_event(self, message: dict[str, Any]) -> str:
        raise NotImplementedError

    def send_html(self, html: str) -> None:
        if html and html.strip():
            self.send(text_data=html)
