"""Team roles. Every permission decision goes through these helpers, never raw strings."""

from __future__ import annotations

from typing import Any

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    VIEWER = "viewer", "Viewer"


# What each role may do, in one place: the team page, the invite page and the role-change
# confirmation all say it with these words.
ROLE_POWERS = {
    Role.VIEWER: "Watches agents, tasks, alerts and the board; changes nothing.",
    Role.ADMIN: "Runs agents, routes issues, manages rules, projects, API keys and invites.",
    Role.OWNER: "Everything an admin does, plus roles, removing people, sign-in settings "
    "and the Django admin.",
}

RANK = {"": 0, Role.VIEWER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_of(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return ""
    return getattr(user, "role", "") or ""


def has_role(user: Any, role: str) -> bool:
    """True when the user holds `role` or a higher one."""
    return RANK.get(role_of(user), 0) >= RANK[role]


def is_member(user: Any) -> bool:
    return has_role(user, Role.VIEWER)


def is_admin(user: Any) -> bool:
    return has_role(user, Role.ADMIN)


def is_owner(user: Any) -> bool:
    return has_role(user, Role.OWNER)


def can_grant(actor: Any, role: str) -> bool:
    """Nobody grants a role above their own; admins invite viewers and admins."""
    return is_admin(actor) and RANK.get(role, 99) <= RANK[role_of(actor)]


def can_change_roles(actor: Any) -> bool:
    return is_owner(actor)


def can_remove_members(actor: Any) -> bool:
    return is_owner(actor)
