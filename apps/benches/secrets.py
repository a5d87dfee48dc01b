"""An endpoint's credentials in the clear, only where a request is about to be made."""

from __future__ import annotations

from typing import Any

from apps.benches.engine import Target
from apps.core.crypto import decrypt


def endpoint_api_key(endpoint: Any) -> str:
    return decrypt(endpoint.api_key_encrypted)


def endpoint_headers(endpoint: Any) -> dict[str, str]:
    """The endpoint's extra headers and its key, for requests outside the engine (/metrics)."""
    headers = {str(k): str(v) for k, v in (endpoint.headers or {}).items()}
    key = endpoint_api_key(endpoint)
    if key:
        headers.setdefault("authorization", f"Bearer {key}")
    return headers


def endpoint_target(endpoint: Any, model: str) -> Target:
    return Target(
        kind=endpoint.kind, base_url=endpoint.base_url, model=model,
        api_key=endpoint_api_key(endpoint),
        headers={str(k): str(v) for k, v in (endpoint.headers or {}).items()},
    )
