"""Writes to the endpoint registry: create, edit, delete, the stored API key and the model list.

An endpoint's `base_url` is stored as its root, without a trailing `/` or `/v1`: people paste
either `http://gpu1:8000` or `http://gpu1:8000/v1` (what OpenAI SDKs call the base URL), and
every path Switchboard calls is spelt in full (`/v1/models`, `/v1/chat/completions`,
`/v1/messages`, the metrics path), so both forms mean the same server.

The API key is Fernet-encrypted at rest (apps.core.crypto, like the Linear key); only its last
characters are kept in clear as a hint, and nothing ever sends it back. An edit that leaves the
key empty keeps the stored one; `clear_api_key=True` removes it.

Changes are audited (`bench_endpoint.created/updated/deleted`, without the key) and pushed to
the project's benches pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from apps.benches.engine import ANTHROPIC_VERSION, Target
from apps.benches.models import Endpoint, EndpointKind, EndpointState, ProbeKind
from apps.core import crypto
from apps.core.audit import audit_record

HINT_CHARS = 4
MAX_HEADERS = 20
MAX_MODELS = 500
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
# Set by Switchboard from the endpoint's kind and key; extra headers may not replace them.
RESERVED_HEADERS = frozenset({"authorization", "x-api-key", "content-type", "content-length",
                              "host", "anthropic-version"})
UPDATABLE = ("name", "kind", "base_url", "default_model", "headers", "probe", "metrics_path",
             "enabled")


class EndpointUnreachable(Exception):
    """The endpoint did not answer a request the way it should; the message says how."""


# --- validation -----------------------------------------------------------------------------
def base_url_normalise(url: str) -> str:
    """http(s)://host[:port][/prefix] without a trailing `/` or `/v1`; ValidationError else."""
    raw = (url or "").strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"base_url": "Enter an http:// or https:// URL, e.g. "
                                           "http://gpu1:8000 or https://api.openai.com/v1."})
    if parts.query or parts.fragment:
        raise ValidationError({"base_url": "The base URL takes no ?query or #fragment."})
    if parts.username or parts.password:
        raise ValidationError({"base_url": "Put credentials in the API key, not in the URL."})
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValidationError({"base_url": "The port is not a number between 0 and 65535."}) from None
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


def headers_clean(value: Any) -> dict[str, str]:
    """A JSON object of header name → string value."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"headers": 'A JSON object of name → value, e.g. {"X-Team": "ml"}.'})
    if len(value) > MAX_HEADERS:
        raise ValidationError({"headers": f"At most {MAX_HEADERS} headers."})
    out: dict[str, str] = {}
    for name, val in value.items():
        if not isinstance(name, str) or not HEADER_NAME_RE.match(name):
            raise ValidationError({"headers": f"{name!r} is not a valid header name."})
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError({"headers": f"{name} is set by Switchboard (use the API key field)."})
        if not isinstance(val, str):
            raise ValidationError({"headers": f"The value of {name} must be a string."})
        if "\r" in val or "\n" in val or len(val) > 2000:
            raise ValidationError({"headers": f"The value of {name} must be one line, "
                                              "at most 2000 characters."})
        out[name] = val
    return out


def metrics_path_clean(value: str) -> str:
    path = (value or "").strip()
    if path and (not path.startswith("/") or "://" in path or any(c.isspace() for c in path)):
        raise ValidationError({"metrics_path": "A path on the same server starting with /, "
                                               "e.g. /metrics; empty to skip."})
    return path


def _check(endpoint: Endpoint) -> None:
    if endpoint.probe == ProbeKind.COMPLETION and not endpoint.default_model:
        raise ValidationError({"default_model": "A 1-token completion probe needs a default model."})
    # base_url is checked by base_url_normalise: URLField's validator refuses a bare host
    # name such as http://gpu1:8000, the usual address of a model server.
    endpoint.full_clean(exclude=["project", "lease_run", "created_by", "base_url"],
                        validate_unique=False, validate_constraints=False)


def key_hint(api_key: str) -> str:
    return "…" + api_key[-HINT_CHARS:] if len(api_key) > HINT_CHARS * 2 else "…"


# --- writes -------------------------------------------------------------------------------------
def _publish(endpoint_id: int, project_id: int, version: int, *, deleted: bool = False) -> None:
    """After commit: the project's benches pages redraw (or drop) the endpoint's card."""
    from apps.realtime.groups import benches_group
    from apps.realtime.publish import publish

    message = {"type": "sb.event", "kind": "endpoint.deleted" if deleted else "endpoint.changed",
               "project_id": project_id, "endpoint_id": endpoint_id, "version": version,
               "event_id": None, "agent_id": None}

    def send() -> None:
        try:
            publish(benches_group(project_id), message)
        except Exception:  # noqa: BLE001 - pages resync and poll; the write has committed
            pass

    transaction.on_commit(send)


def endpoint_changed(endpoint: Endpoint) -> None:
    """For other services that changed an endpoint row (the probe): push its card."""
    _publish(endpoint.pk, endpoint.project_id, endpoint.version)


def _save(endpoint: Endpoint, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            endpoint.save(**kwargs)
    except IntegrityError:
        raise ValidationError({"name": "This project already has an endpoint with this name."}) from None


@transaction.atomic
def endpoint_create(
    *,
    project: Any,
    name: str,
    base_url: str,
    kind: str = EndpointKind.OPENAI,
    api_key: str = "",
    default_model: str = "",
    headers: dict[str, str] | None = None,
    probe: str = ProbeKind.MODELS,
    metrics_path: str = "/metrics",
    enabled: bool = True,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Endpoint:
    api_key = (api_key or "").strip()
    endpoint = Endpoint(
        project=project, name=(name or "").strip(), kind=kind, base_url=base_url_normalise(base_url),
        api_key_encrypted=crypto.encrypt(api_key), api_key_hint=key_hint(api_key) if api_key else "",
        default_model=(default_model or "").strip(), headers=headers_clean(headers),
        probe=probe, metrics_path=metrics_path_clean(metrics_path), enabled=enabled,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if Endpoint.objects.filter(project=project, name=endpoint.name).exists():
        raise ValidationError({"name": "This project already has an endpoint with this name."})
    _check(endpoint)
    _save(endpoint)
    audit_record("bench_endpoint.created", actor=actor, request=request, target=endpoint,
                 data=_audit_data(endpoint, key_set=bool(api_key)))
    _publish(endpoint.pk, endpoint.project_id, endpoint.version)
    _probe_soon()
    return endpoint


def _probe_soon() -> None:
    """A new (or moved) endpoint is probed now, not at the next beat round, whichever of the
    page, the API, the admin or the command added it."""
    def send() -> None:
        from apps.benches.tasks import probe_endpoints
        from apps.core.queueing import enqueue

        enqueue(probe_endpoints, recovered_by="the next beat round")

    transaction.on_commit(send)


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    changes: dict[str, Any],
    api_key: str | None = None,
    clear_api_key: bool = False,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Endpoint:
    """`changes` holds any of UPDATABLE; `api_key` None or "" keeps the stored key."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValidationError({f: "This field cannot be changed." for f in sorted(unknown)})
    before = {f: getattr(endpoint, f) for f in UPDATABLE}
    for name, value in changes.items():
        if name == "base_url":
            value = base_url_normalise(value)
        elif name == "headers":
            value = headers_clean(value)
        elif name == "metrics_path":
            value = metrics_path_clean(value)
        elif name in ("name", "default_model"):
            value = (value or "").strip()
        setattr(endpoint, name, value)
    if (endpoint.name != before["name"] and Endpoint.objects.filter(
            project_id=endpoint.project_id, name=endpoint.name).exclude(pk=endpoint.pk).exists()):
        raise ValidationError({"name": "This project already has an endpoint with this name."})
    key = (api_key or "").strip()
    key_changed = bool(key) or (clear_api_key and bool(endpoint.api_key_encrypted))
    if key:
        endpoint.api_key_encrypted, endpoint.api_key_hint = crypto.encrypt(key), key_hint(key)
    elif clear_api_key:
        endpoint.api_key_encrypted, endpoint.api_key_hint = "", ""
    changed = sorted(f for f in UPDATABLE if getattr(endpoint, f) != before[f])
    if not changed and not key_changed:
        return endpoint
    target_moved = any(f in changed for f in ("kind", "base_url", "probe"))
    if target_moved or key_changed:
        # Another server (or credentials): what was known about the old one says nothing.
        endpoint.state, endpoint.state_changed_at = EndpointState.UNKNOWN, timezone.now()
        endpoint.consecutive_failures, endpoint.last_error = 0, ""
        endpoint.last_latency_ms = None
    _check(endpoint)
    endpoint.version = F("version") + 1
    _save(endpoint)
    endpoint.refresh_from_db()
    audit_record("bench_endpoint.updated", actor=actor, request=request, target=endpoint,
                 data={"changed": changed, "api_key_changed": key_changed,
                       **_audit_data(endpoint, key_set=bool(endpoint.api_key_encrypted))})
    _publish(endpoint.pk, endpoint.project_id, endpoint.version)
    if target_moved or key_changed:
        _probe_soon()
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint, actor: Any = None,
                    request: HttpRequest | None = None) -> None:
    """Deletes its suites and runs with it (the foreign keys cascade)."""
    pk, project_id = endpoint.pk, endpoint.project_id
    audit_record("bench_endpoint.deleted", actor=actor, request=request, target=endpoint,
                 data=_audit_data(endpoint, key_set=bool(endpoint.api_key_encrypted)))
    endpoint.delete()
    # Above any version the card had: a late update never brings it back.
    _publish(pk, project_id, 2**53, deleted=True)


def _audit_data(endpoint: Endpoint, *, key_set: bool) -> dict[str, Any]:
    return {"project_id": endpoint.project_id, "name": endpoint.name, "kind": endpoint.kind,
            "base_url": endpoint.base_url, "default_model": endpoint.default_model,
            "probe": endpoint.probe, "enabled": endpoint.enabled,
            "header_names": sorted(endpoint.headers or {}), "api_key_set": key_set}


# --- talking to the endpoint -------------------------------------------------------------------
@dataclass(frozen=True)
class Connection:
    """What a request to the endpoint needs, read out of the row (the key decrypted)."""

    kind: str
    base_url: str
    api_key: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def request_headers(self) -> dict[str, str]:
        out = {"accept": "application/json"}
        if self.kind == EndpointKind.ANTHROPIC:
            out["anthropic-version"] = ANTHROPIC_VERSION
            if self.api_key:
                out["x-api-key"] = self.api_key
        elif self.api_key:
            out["authorization"] = f"Bearer {self.api_key}"
        return out | dict(self.headers)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


def endpoint_api_key(endpoint: Endpoint) -> str:
    """The key in clear, for requests only; "" when none is stored (or SECRET_KEY changed)."""
    return crypto.decrypt(endpoint.api_key_encrypted)


def endpoint_connection(endpoint: Endpoint) -> Connection:
    return Connection(kind=endpoint.kind, base_url=endpoint.base_url,
                      api_key=endpoint_api_key(endpoint), headers=dict(endpoint.headers or {}))


def endpoint_target(endpoint: Endpoint, model: str) -> Target:
    """What the bench engine streams at: the engine sets its own auth and version headers."""
    return Target(kind=endpoint.kind, base_url=endpoint.base_url, model=model,
                  api_key=endpoint_api_key(endpoint), headers=dict(endpoint.headers or {}))


def models_from(payload: Any) -> list[str]:
    """Model ids from an OpenAI- or Anthropic-shaped list: {"data": [{"id": ...}, ...]}."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise EndpointUnreachable("The answer to GET /v1/models has no data list.")
    ids = [str(item["id"]) for item in data if isinstance(item, dict) and item.get("id")]
    return sorted(dict.fromkeys(ids))[:MAX_MODELS]


def error_text(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "Timed out."
    if isinstance(exc, httpx.ConnectError):
        return f"Cannot connect: {exc}" if str(exc) else "Cannot connect."
    return f"{exc.__class__.__name__}: {exc}"[:300] if str(exc) else exc.__class__.__name__


def status_text(response: httpx.Response) -> str:
    body = " ".join(response.text.split())[:200]
    return f"HTTP {response.status_code}" + (f": {body}" if body else "")


def models_fetch(connection: Connection, *, timeout: float | None = None) -> list[str]:
    """GET /v1/models; EndpointUnreachable says why not."""
    timeout = timeout or settings.BENCH_PROBE_TIMEOUT_SECONDS
    try:
        response = httpx.get(connection.url("/v1/models"), headers=connection.request_headers(),
                             timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise EndpointUnreachable(error_text(exc)) from None
    if response.status_code != 200:
        raise EndpointUnreachable(status_text(response))
    try:
        payload = response.json()
    except ValueError:
        raise EndpointUnreachable("GET /v1/models did not answer JSON.") from None
    return models_from(payload)


def endpoint_models_refresh(*, endpoint: Endpoint) -> list[str]:
    """Fetch and store the endpoint's model list; EndpointUnreachable when it cannot be read
    (the stored list is kept)."""
    names = models_fetch(endpoint_connection(endpoint))
    endpoint_models_store(endpoint=endpoint, names=names)
    return names


@transaction.atomic
def endpoint_models_store(*, endpoint: Endpoint, names: list[str]) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {"models_fetched_at": now}
    if names != endpoint.models_list:
        fields |= {"models_list": names, "version": F("version") + 1}
    Endpoint.objects.filter(pk=endpoint.pk).update(**fields)
    endpoint.refresh_from_db()
    if "version" in fields:
        _publish(endpoint.pk, endpoint.project_id, endpoint.version)
