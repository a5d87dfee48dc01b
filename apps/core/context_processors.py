from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from apps.core import roles
from apps.core.nav import NAV, is_active


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    main, settings_items = [], []
    match = getattr(request, "resolver_match", None)
    url_name = match.url_name if match is not None else None
    if user is not None and roles.is_member(user):
        for item in sorted(NAV.values(), key=lambda i: i.order):
            if not roles.has_role(user, item.role):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            entry = {"label": item.label, "url": url,
                     "active": is_active(item, url_name=url_name, path=request.path, url=url)}
            (main if item.section == "main" else settings_items).append(entry)
    projects: list = []
    current = None
    if user is not None and roles.is_member(user):
        from apps.projects.selectors import current_project, selectable_projects

        projects = selectable_projects()
        current = current_project(request)
    return {
        "projects_for_selector": projects,
        "current_project": current,
        "nav_main": main,
        "nav_settings": settings_items,
        "user_role": roles.role_of(user),
        "is_admin": roles.is_admin(user),
        "is_owner": roles.is_owner(user),
        "password_login_enabled": settings.PASSWORD_LOGIN_ENABLED,
    }
