"""API permissions. A request is authenticated either by a project API key (request.auth is
the ApiKey) or by a browser session (request.user)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.core import roles


def api_key_of(request: Any) -> Any:
    auth = getattr(request, "auth", None)
    return auth if getattr(auth, "is_api_key", False) else None


class IsProjectMember(BasePermission):
    """Read: any valid key or a team member. Write: a write-scoped key or an admin."""

    message = "Authentication credentials were not provided or are not valid."

    def has_permission(self, request: Any, view: Any) -> bool:
        key = api_key_of(request)
        write = request.method not in SAFE_METHODS
        if key is not None:
            if write and not key.can_write:
                self.message = "This API key is read-only; a write-scoped key is required."
                return False
            return True
        if not request.user.is_authenticated:
            return False
        if write:
            self.message = "Only admins may change this."
            return roles.is_admin(request.user)
        self.message = "You are not a member of this team."
        return roles.is_member(request.user)


class IsTeamAdmin(BasePermission):
    """Browser-session admins only (settings endpoints)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return roles.is_admin(request.user)
