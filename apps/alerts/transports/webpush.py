"""Web push with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), via pywebpush."""

from __future__ import annotations

import json

import requests
from django.conf import settings
from django.utils import timezone
from pywebpush import WebPushException, webpush

from apps.alerts import vapid
from apps.alerts.transports import TIMEOUT_SECONDS, TransportError, guard, http_error


def _approval(message, user) -> dict:  # noqa: ANN001
    """Allow / Deny buttons on the notification for a waiting permission prompt, when the
    person it goes to may decide: the service worker posts the decision with a signed token."""
    from django.urls import reverse

    from apps.agents.approvals import decision_token
    from apps.core import roles
    from apps.core.links import absolute_url

    waiting = message.payload.get("approval")  # filled by build_message, no second lookup
    if not waiting or not roles.is_admin(user):
        return {}
    what = f"{waiting['tool_name']}: {waiting['summary']}" if waiting["tool_name"] \
        else waiting["summary"]
    return {
        "body": f"Waiting for permission — {what}"[:300],
        "url": waiting["url"],
        "approval": {"id": waiting["id"], "token": decision_token(waiting["id"], user),
                     "decide_url": absolute_url(reverse("approval-from-notification"))},
    }


def send(delivery, message) -> str:  # noqa: ANN001
    sub = delivery.subscription
    if sub is None:
        raise TransportError("the browser unsubscribed", retryable=False)
    push = {
        "title": message.title[:120],
        "body": (message.payload.get("body") or message.severity)[:300],
        "url": message.url,
        "tag": f"alert-{message.payload.get('alert', {}).get('id', 'n')}",
        "severity": message.severity,
    }
    push.update(_approval(message, sub.user))
    guard(sub.endpoint, https_only=not settings.ALERTS_ALLOW_PRIVATE_TARGETS)
    data = json.dumps(push)
    try:
        r = webpush(
            subscription_info={"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
            data=data,
            vapid_private_key=vapid.signer(),
            vapid_claims={"sub": settings.ALERTS_VAPID_SUBJECT},
            content_encoding="aes128gcm",
            ttl=settings.ALERTS_PUSH_TTL_SECONDS,
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise TransportError(f"push service unreachable: {exc.__class__.__name__}") from exc
    except WebPushException as exc:
        status = getattr(exc.response, "status_code", None)
        if status in (404, 410):
            # The push service forgot this browser: drop the subscription, do not retry.
            type(sub).objects.filter(pk=sub.pk).delete()
            raise TransportError(f"subscription gone (HTTP {status})", retryable=False) from exc
        if status is not None:
            raise http_error(status, getattr(exc.response, "text", "")) from exc
        raise TransportError(f"push service unreachable: {exc}") from exc
    type(sub).objects.filter(pk=sub.pk).update(last_success_at=timezone.now())
    return f"push service answered {r.status_code}"
