"""publish(): send ids and primitives to groups after commit; consumers render partials."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.realtime.groups import agent_group, project_group

logger = logging.getLogger(__name__)


def publish(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        # Sync ORM code under a running loop (only tests driving a browser allow that) cannot
        # block on the layer; pages recover what they miss through resync and polling.
        logger.debug("not publishing to %s from inside a running event loop", group)
        return
    async_to_sync(layer.group_send)(group, message)


def publish_event(*, event_id: int, kind: str, project_id: int, agent_id: int | None) -> None:
    message = {
        "type": "sb.event",
        "event_id": event_id,
        "kind": kind,
        "project_id": project_id,
        "agent_id": agent_id,
    }
    publish(project_group(project_id), message)
    if agent_id is not None:
        publish(agent_group(agent_id), message)
