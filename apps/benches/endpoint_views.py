"""Benches → Endpoints: the registry's pages. Thin: parse, check the role, call a service or
selector, render. Everyone on the team reads; admins add, edit, delete, probe and refresh."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.benches import endpoint_selectors as selectors
from apps.benches import endpoints as svc
from apps.benches.forms import EndpointForm
from apps.benches.models import Endpoint
from apps.benches.probe import endpoint_probe
from apps.core import roles
from apps.core.permissions import admin_required, member_required
from apps.projects.selectors import current_project


def _list_context(request: HttpRequest) -> dict:
    project = current_project(request)
    endpoints = list(selectors.endpoints_for(project))
    return {
        "project": project,
        "endpoints": endpoints,
        "list_version": selectors.list_version(endpoints),
        "can_act": roles.is_admin(request.user),
        "query": urlencode({"project": project.slug}) if project else "",
        "show_project": project is None,
        "probe_seconds": settings.BENCH_PROBE_SECONDS,
        "down_after": settings.BENCH_DOWN_AFTER,
    }


@require_GET
@member_required
def endpoints(request: HttpRequest) -> HttpResponse:
    ctx = _list_context(request)
    if request.htmx and request.GET.get("partial") == "list":
        return render(request, "benches/endpoints.html#list", ctx)
    return render(request, "benches/endpoints.html", ctx)


def _card(request: HttpRequest, endpoint: Endpoint, notice: str = "", error: str = "") -> HttpResponse:
    row = selectors.endpoint_row(endpoint.pk) or endpoint
    return render(request, "benches/_endpoint_card.html",
                  {"endpoint": row, "can_act": True, "notice": notice, "error": error,
                   "show_project": current_project(request) is None})


def _back(request: HttpRequest, endpoint: Endpoint | None = None) -> str:
    url = reverse("benches")
    project = endpoint.project if endpoint is not None else current_project(request)
    return f"{url}?project={project.slug}" if project else url


@require_http_methods(["GET", "POST"])
@admin_required
def endpoint_new(request: HttpRequest) -> HttpResponse:
    project = current_project(request)
    form = EndpointForm(request.POST or None,
                        initial={"project": project.pk} if project else {})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            endpoint = svc.endpoint_create(
                project=data["project"], api_key=data.get("api_key", ""), actor=request.user,
                request=request, **form.changes())
        except ValidationError as err:
            form.apply_errors(err)
        else:
            messages.success(request, f"Added {endpoint.name}; its first probe is under way.")
            return redirect(_back(request, endpoint))
    return render(request, "benches/endpoint_form.html", {"form": form, "endpoint": None})


@require_http_methods(["GET", "POST"])
@admin_required
def endpoint_edit(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint.objects.select_related("project"), pk=pk)
    form = EndpointForm(request.POST or None, endpoint=endpoint)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            svc.endpoint_update(endpoint=endpoint, changes=form.changes(),
                                api_key=data.get("api_key") or None,
                                clear_api_key=bool(data.get("clear_api_key")),
                                actor=request.user, request=request)
        except ValidationError as err:
            form.apply_errors(err)
        else:
            messages.success(request, f"Saved {endpoint.name}.")
            return redirect(_back(request, endpoint))
    return render(request, "benches/endpoint_form.html", {"form": form, "endpoint": endpoint})


@require_POST
@admin_required
def endpoint_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint.objects.select_related("project"), pk=pk)
    back = _back(request, endpoint)
    name = endpoint.name
    svc.endpoint_delete(endpoint=endpoint, actor=request.user, request=request)
    messages.success(request, f"Deleted {name}.")
    if request.htmx:
        return HttpResponseClientRedirect(back)
    return redirect(back)


@require_POST
@admin_required
def endpoint_probe_now(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    endpoint = endpoint_probe(endpoint=endpoint)
    if request.htmx:
        return _card(request, endpoint, notice="Probed just now.")
    return redirect(_back(request, endpoint))


@require_POST
@admin_required
def endpoint_models_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    try:
        names = svc.endpoint_models_refresh(endpoint=endpoint)
    except svc.EndpointUnreachable as err:
        text, notice, error = f"Could not list the models: {err}", "", f"Could not list the models: {err}"
    else:
        text = notice = f"{len(names)} model{'s' if len(names) != 1 else ''} listed."
        error = ""
    if request.htmx:
        return _card(request, endpoint, notice=notice, error=error)
    (messages.error if error else messages.success)(request, text)
    return redirect(_back(request, endpoint))
