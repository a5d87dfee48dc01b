"""Tells drf-spectacular how API keys authenticate, so /api/v1/docs/ offers "Authorize"."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.projects.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sbk_...",
            "description": "A project API key: `Authorization: Bearer sbk_...`.",
        }
