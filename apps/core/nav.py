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
    # URL names (exact, or prefixes ending in "-") of the section's other pages: the item is
    # highlighted on them too, whatever their paths look like.
    active_for: tuple[str, ...] = ()


NAV: dict[str, NavItem] = {}


def register_nav(
    label: str, url_name: str, *, order: int, role: str = Role.VIEWER, section: str = "main",
    active_for: tuple[str, ...] = (),
) -> None:
    NAV[url_name] = NavItem(label, url_name, order, role, section, active_for)


def is_active(item: NavItem, *, url_name: str | None, path: str, url: str) -> bool:
    """The page is the item's, one of its section's (by URL name), or under its path."""
    if url_name and (url_name == item.url_name or any(
            url_name == name or (name.endswith("-") and url_name.startswith(name))
            for name in item.active_for)):
        return True
    return path == url or (url != "/" and path.startswith(url))
