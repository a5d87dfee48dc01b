"""Settings → Linear → "Install in Linear": the OAuth round trip of the agent app."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core import roles
from apps.core.links import absolute_url
from apps.core.permissions import admin_required, forbidden
from apps.linear import app_install
from apps.linear.client import LinearError
from apps.linear.models_agent import LinearAppInstall

STATE_KEY = "linear_app_oauth_state"


def callback_url(request: HttpRequest) -> str:
    return absolute_url(reverse("linear-app-callback"), request)


@require_POST
@admin_required
def app_install_start(request: HttpRequest) -> HttpResponse:
    if not roles.is_owner(request.user):
        return forbidden(request, roles.Role.OWNER)
    if not app_install.app_configured():
        messages.error(request, "Set LINEAR_OAUTH_CLIENT_ID and LINEAR_OAUTH_CLIENT_SECRET "
                                "(Linear → Settings → API → OAuth applications) first.")
        return redirect("linear-settings")
    state = secrets.token_urlsafe(24)
    request.session[STATE_KEY] = state
    return redirect(app_install.authorize_url(redirect_uri=callback_url(request), state=state))


@require_GET
@admin_required
def app_install_callback(request: HttpRequest) -> HttpResponse:
    from apps.linear.views import webhook_url

    if not roles.is_owner(request.user):
        return forbidden(request, roles.Role.OWNER)
    expected = request.session.pop(STATE_KEY, None)
    if not expected or request.GET.get("state") != expected:
        messages.error(request, "That Linear authorization was not started here, or it was "
                                "used already. Start again with “Install in Linear”.")
        return redirect("linear-settings")
    if request.GET.get("error"):
        messages.error(request, "Linear did not install Switchboard: "
                                f"{request.GET.get('error_description') or request.GET['error']}.")
        return redirect("linear-settings")
    code = request.GET.get("code", "")
    if not code:
        messages.error(request, "Linear sent no authorization code.")
        return redirect("linear-settings")
    try:
        install = app_install.install_complete(
            code=code, redirect_uri=callback_url(request), webhook_url=webhook_url(request),
            actor=request.user, request=request)
    except LinearError as exc:
        messages.error(request, f"Installing in Linear failed: {exc}")
        return redirect("linear-settings")
    messages.success(request, f"Switchboard is installed in {install.organization_name} as an "
                              "agent: delegate an issue to it, or @-mention it.")
    return redirect("linear-settings")


@require_POST
@admin_required
def app_install_remove(request: HttpRequest, pk: int) -> HttpResponse:
    if not roles.is_owner(request.user):
        return forbidden(request, roles.Role.OWNER)
    install = get_object_or_404(LinearAppInstall, pk=pk)
    app_install.install_remove(install=install, actor=request.user, request=request)
    messages.success(request, f"Removed the installation in {install.organization_name}. "
                              "Remove the app in Linear too (Settings → Applications).")
    return redirect("linear-settings")
