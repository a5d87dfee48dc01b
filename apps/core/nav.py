"""Navigation registry: apps add their pages in AppConfig.ready(); the header shows only pages
that exist and that the user's role may open."""

from __future__ import annotations

from dataclasses import dataclass

from apps.core.roles import Role


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    order: int
    role: str = Role.VIEWER
    section: str = "main"  # "main" in the header, "settings" in the user menu


NAV: dict[str, NavItem] = {}


def register_nav(
    label: str, url_name: str, *, order: int, role: str = Role.VIEWER, section: str = "main"
) -> None:
    NAV[url_name] = NavItem(label, url_name, order, role, section)
