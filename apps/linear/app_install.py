"""Installing Switchboard in a Linear workspace as an app (OAuth 2, `actor=app`).

The owner is sent to Linear's consent page with the `app:assignable` and `app:mentionable`
scopes, Linear sends them back with a code, the code becomes an app token (stored encrypted),
and Switchboard registers its "Agent session events" webhook with a fresh secret.
"""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core import crypto
from apps.core.audit import audit_record
from apps.linear import queries
from apps.linear.client import LinearAuthError, LinearClient, LinearError, LinearUnavailable
from apps.linear.models_agent import LinearAppInstall

SCOPES = ["read", "write", "app:assignable", "app:mentionable"]
WEBHOOK_RESOURCE_TYPES = ["AgentSessionEvent"]
REFRESH_MARGIN = timedelta(minutes=5)


def app_configured() -> bool:
    return bool(settings.LINEAR_OAUTH_CLIENT_ID and settings.LINEAR_OAUTH_CLIENT_SECRET)


def authorize_url(*, redirect_uri: str, state: str) -> str:
    query = urlencode({
        "client_id": settings.LINEAR_OAUTH_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": ",".join(SCOPES),
        "actor": "app",
        "state": state,
        "prompt": "consent",
    })
    return f"{settings.LINEAR_OAUTH_AUTHORIZE_URL}?{query}"


def _token_request(data: dict[str, str]) -> dict[str, Any]:
    try:
        response = requests.post(settings.LINEAR_OAUTH_TOKEN_URL, data={
            **data, "client_id": settings.LINEAR_OAUTH_CLIENT_ID,
            "client_secret": settings.LINEAR_OAUTH_CLIENT_SECRET}, timeout=20)
    except requests.RequestException as exc:
        raise LinearUnavailable(f"Could not reach Linear: {exc.__class__.__name__}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not body.get("access_token"):
        detail = body.get("error_description") or body.get("error") or response.status_code
        raise LinearAuthError(f"Linear refused the authorization: {detail}")
    return body


def _store_tokens(install: LinearAppInstall, body: dict[str, Any]) -> None:
    install.access_token_encrypted = crypto.encrypt(body["access_token"])
    if body.get("refresh_token"):
        install.refresh_token_encrypted = crypto.encrypt(body["refresh_token"])
    expires = body.get("expires_in")
    install.token_expires_at = (timezone.now() + timedelta(seconds=int(expires))
                                if isinstance(expires, (int, float)) and expires > 0 else None)
    if body.get("scope"):
        scope = body["scope"]
        install.scopes = (",".join(scope) if isinstance(scope, list) else str(scope))[:300]


def install_complete(*, code: str, redirect_uri: str, webhook_url: str, actor: Any,
                     request: Any = None) -> LinearAppInstall:
    """Turn the code into an app token, learn which workspace this is, register the session
    webhook. Raises LinearError (nothing stored) when any step fails."""
    body = _token_request({"grant_type": "authorization_code", "code": code,
                           "redirect_uri": redirect_uri})
    client = LinearClient(api_url=settings.LINEAR_API_URL,
                          api_key=f"Bearer {body['access_token']}")
    who = client.execute(queries.APP_VIEWER)
    org = who.get("organization") or {}
    viewer = who.get("viewer") or {}
    if not org.get("id"):
        raise LinearError("Linear did not say which workspace the app was installed in.")
    secret = secrets.token_hex(32)
    hook = client.execute(queries.WEBHOOK_CREATE, {"input": {
        "url": webhook_url, "resourceTypes": WEBHOOK_RESOURCE_TYPES, "allPublicTeams": True,
        "label": "Switchboard agent sessions", "secret": secret, "enabled": True}})
    result = hook.get("webhookCreate") or {}
    if not result.get("success"):
        raise LinearError("Linear did not create the agent session webhook.")
    with transaction.atomic():
        install = LinearAppInstall.objects.filter(organization_id=org["id"]).first() \
            or LinearAppInstall(organization_id=org["id"])
        _store_tokens(install, body)
        install.organization_name = str(org.get("name") or "")[:200]
        install.app_user_id = str(viewer.get("id") or "")[:64]
        install.app_user_name = str(viewer.get("name") or "")[:200]
        install.webhook_id = str((result.get("webhook") or {}).get("id") or "")[:64]
        install.webhook_secret_encrypted = crypto.encrypt(secret)
        install.installed_by = actor if getattr(actor, "pk", None) else None
        install.installed_at = timezone.now()
        install.last_error = ""
        install.save()
        audit_record("linear.app_installed", actor=actor, request=request, target=install,
                     data={"organization": install.organization_name,
                           "webhook_id": install.webhook_id})
    _forget_client(install.pk)
    return install


@transaction.atomic
def install_remove(*, install: LinearAppInstall, actor: Any, request: Any = None) -> None:
    audit_record("linear.app_removed", actor=actor, request=request, target=install,
                 data={"organization": install.organization_name})
    _forget_client(install.pk)
    install.delete()


def webhook_secrets() -> list[str]:
    return [s for s in (crypto.decrypt(t) for t in LinearAppInstall.objects.exclude(
        webhook_secret_encrypted="").values_list("webhook_secret_encrypted", flat=True)) if s]


# One client per installation and process: it keeps the rate-limit budget Linear reports, so
# every sender in this process paces itself from the same headers.
_clients: dict[int, tuple[str, LinearClient]] = {}
_clients_lock = threading.Lock()


def _forget_client(pk: int) -> None:
    with _clients_lock:
        _clients.pop(pk, None)


def _refresh_if_due(install: LinearAppInstall) -> None:
    due = install.token_expires_at and install.token_expires_at - REFRESH_MARGIN < timezone.now()
    if not due or not install.refresh_token_encrypted:
        return
    body = _token_request({"grant_type": "refresh_token",
                           "refresh_token": crypto.decrypt(install.refresh_token_encrypted)})
    _store_tokens(install, body)
    install.save(update_fields=["access_token_encrypted", "refresh_token_encrypted",
                                "token_expires_at", "scopes"])


def install_client(install: LinearAppInstall) -> LinearClient:
    _refresh_if_due(install)
    token = install.access_token_encrypted
    with _clients_lock:
        cached = _clients.get(install.pk)
        if cached is not None and cached[0] == token:
            return cached[1]
        client = LinearClient(api_url=install.api_url or settings.LINEAR_API_URL,
                              api_key=f"Bearer {crypto.decrypt(token)}", max_inline_wait=5.0)
        _clients[install.pk] = (token, client)
        return client
