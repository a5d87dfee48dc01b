"""Every API operation documents the errors it can answer, in the one shape the exception handler
(apps/core/api/errors.py) gives them: `{"error": "...", "details": {...}}`.

A drf-spectacular postprocessing hook adds them after the views' own responses, so a view only
declares what is particular to it; schemathesis (tests/core/test_api_fuzz.py) holds the server
to this document."""

from __future__ import annotations

from typing import Any

API_ERROR = {
    "type": "object",
    "description": "Every API error has this shape; `details` maps a field to its messages.",
    "properties": {
        "error": {"type": "string"},
        "details": {"type": "object", "additionalProperties": True},
    },
    "required": ["error", "details"],
}

WRITE_METHODS = {"post", "put", "patch", "delete"}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def errors_for(path: str, method: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    errors = {
        "400": _error("Invalid input: a malformed body, a bad field or query parameter."),
        "401": _error("No credentials, or an API key that is unknown or revoked."),
        "403": _error("Credentials that may not do this (a read key writing, a viewer acting)."),
    }
    if "{" in path or operation.get("parameters") or "requestBody" in operation:
        errors["404"] = _error("An object the request names (in the path, query or body) is not "
                               "in the key's project.")
    if "requestBody" in operation:
        errors["413"] = _error("Request body is larger than 1 MB.")
    if method in WRITE_METHODS:
        errors["429"] = _error("Rate limit reached for this key or address.", RETRY_AFTER)
    return errors


LINEAR_WEBHOOK = {
    "post": {
        "operationId": "linear_webhook",
        "summary": "Linear webhook intake (signed by Linear, not by an API key)",
        "description": (
            "Verified with the webhook secret (`Linear-Signature`: hex HMAC-SHA256 of the raw "
            "body) and a `webhookTimestamp` within a minute of now, stored once per "
            "`Linear-Delivery`, applied by the worker. A replay of a delivery already applied "
            "answers `duplicate`; one not yet applied is queued again."
        ),
        "tags": ["linear"],
        "security": [],
        "parameters": [
            {"name": "Linear-Signature", "in": "header", "required": True,
             "schema": {"type": "string"}},
            {"name": "Linear-Delivery", "in": "header", "required": True,
             "schema": {"type": "string", "maxLength": 100}},
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "action": {"type": "string"},
                    "webhookTimestamp": {"type": "integer", "description": "ms since epoch"},
                    "data": {"type": "object", "additionalProperties": True},
                },
                "required": ["webhookTimestamp"],
                "additionalProperties": True,
            }}},
        },
        "responses": {
            "200": {
                "description": "Stored (accepted) or already stored (duplicate).",
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["accepted", "duplicate"]},
                        "delivery": {"type": "string"},
                    },
                    "required": ["status", "delivery"],
                }}},
            },
            "400": _error("Missing headers, malformed JSON or a stale webhookTimestamp."),
            "401": _error("The signature does not match the webhook secret."),
            "413": _error("Request body is larger than 1 MB."),
            "503": _error("No webhook secret is configured yet.", RETRY_AFTER),
        },
    }
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    result.setdefault("components", {}).setdefault("schemas", {})["ApiError"] = API_ERROR
    result.setdefault("paths", {})["/api/v1/linear/webhook"] = LINEAR_WEBHOOK
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, response in errors_for(path, method, operation).items():
                operation["responses"].setdefault(code, response)
    return result
