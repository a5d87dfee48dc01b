"""A generic webhook signed per Standard Webhooks (standardwebhooks.com):
webhook-id, webhook-timestamp, webhook-signature = "v1," + base64(HMAC-SHA256(secret,
f"{id}.{timestamp}.{body}")), the secret being the base64 after "whsec_". The id stays the
same across retries so receivers can deduplicate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import requests

from apps.alerts.transports import TIMEOUT_SECONDS, TransportError, guard, http_error


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    digest = hmac.new(
        secret_bytes(secret), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256
    ).digest()
    return "v1," + base64.b64encode(digest).decode()


def send(delivery, message) -> str:  # noqa: ANN001
    channel = delivery.team_channel
    msg_id = f"msg_{delivery.uid.hex}"
    timestamp = int(time.time())
    body = json.dumps(
        {"type": message.event_type, "timestamp": timestamp, "data": message.payload},
        separators=(",", ":"),
    )
    headers = {
        "content-type": "application/json",
        "user-agent": "Switchboard-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(channel.secret, msg_id, timestamp, body),
    }
    guard(channel.url)
    try:
        r = requests.post(channel.url, data=body.encode(), headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise TransportError(f"webhook unreachable: {exc.__class__.__name__}") from exc
    if not 200 <= r.status_code < 300:
        raise http_error(r.status_code, r.text)
    return f"webhook answered {r.status_code}"
