"""View decorators built on apps.core.roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core import roles


def role_required(role: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous users go to the login page; signed-in users below `role` get a 403 page."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not roles.has_role(request.user, role):
                return forbidden(request, role)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


member_required = role_required(roles.Role.VIEWER)
admin_required = role_required(roles.Role.ADMIN)
owner_required = role_required(roles.Role.OWNER)


def forbidden(request: HttpRequest, role: str = roles.Role.VIEWER) -> HttpResponse:
    return render(
        request,
        "core/forbidden.html",
        {"needed_role": roles.Role(role).label, "has_role": roles.role_of(request.user)},
        status=403,
    )
