"""Project pages: list (team), create/edit/archive and API keys (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core import roles
from apps.core.links import site_url
from apps.core.permissions import admin_required, member_required
from apps.projects import selectors, services
from apps.projects.forms import ApiKeyForm, ProjectForm
from apps.projects.models import ApiKey


@require_GET
@member_required
def project_list(request: HttpRequest) -> HttpResponse:
    show_archived = request.GET.get("show") == "archived"
    projects = list(selectors.projects_with_counts(archived=show_archived))
    from apps.telemetry.analytics import sparks

    last_day = sparks(projects=[p.pk for p in projects], by="project")
    for p in projects:
        p.sparks = last_day[p.pk]
    archived_count = 0 if show_archived else selectors.projects_with_counts(archived=True).count()
    return render(
        request,
        "projects/list.html",
        {
            "projects": projects,
            "show_archived": show_archived,
            "archived_count": archived_count,
            "can_manage": roles.is_admin(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@admin_required
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(
            name=form.cleaned_data["name"],
            slug=form.cleaned_data["slug"],
            description=form.cleaned_data["description"],
            actor=request.user,
            request=request,
        )
        messages.success(
            request,
            f"Project “{project.name}” created. Next: create an API key so its agents can report.",
        )
        return redirect("project-keys", slug=project.slug)
    return render(request, "projects/form.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@admin_required
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(slug)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(
                project=selectors.project_get(slug),
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                description=form.cleaned_data["description"],
                actor=request.user,
                request=request,
            )
        except ValidationError as exc:  # a concurrent edit took the slug
            form.add_error(None, exc)
        else:
            messages.success(request, "Project settings saved.")
            return redirect("project-settings", slug=form.cleaned_data["slug"])
    # A failed form must not leave its values on the instance the page header shows.
    project = selectors.project_get(slug)
    return render(
        request,
        "projects/settings.html",
        {"project": project, "form": form, "active_tab": "settings"},
        status=400 if form.errors else 200,
    )


@require_POST
@admin_required
def project_archive(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(slug)
    archive = request.POST.get("archived", "1") != "0"
    if services.project_set_archived(
        project=project, archived=archive, actor=request.user, request=request
    ):
        if archive:
            messages.success(
                request,
                f"“{project.name}” is archived. Its API keys no longer "
                "work; unarchive it to bring them back.",
            )
        else:
            messages.success(request, f"“{project.name}” is active again.")
    return redirect("project-settings", slug=project.slug)


NEW_KEY_SESSION_KEY = "projects.new_key"


@require_http_methods(["GET", "POST"])
@admin_required
def project_keys(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(slug)
    form = ApiKeyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if project.archived:
            form.add_error(None, "This project is archived. Unarchive it to create keys.")
        if form.is_valid():
            key, raw = services.api_key_create(
                project=project,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                created_by=request.user,
                request=request,
            )
            # Post/redirect/get: a reload of the page showing the key re-sends nothing. The raw
            # key waits in the session for that one page view, which takes it out again.
            request.session[NEW_KEY_SESSION_KEY] = {
                "project": project.pk, "pk": key.pk, "raw": raw
            }
            return redirect("project-keys", slug=project.slug)
        status = 400
    new_key = request.session.get(NEW_KEY_SESSION_KEY)
    if request.method == "GET" and new_key and new_key.get("project") == project.pk:
        del request.session[NEW_KEY_SESSION_KEY]
    else:
        new_key = None
    keys = list(selectors.project_keys(project))
    created = next((k for k in keys if new_key and k.pk == new_key["pk"]), None)
    response = render(
        request,
        "projects/keys.html",
        {
            "project": project,
            "form": form if status == 400 else ApiKeyForm(),
            "keys": keys,
            "active_count": sum(1 for k in keys if k.is_active),
            "api_base": site_url(request),
            "created_key": created,
            "raw_key": new_key["raw"] if created else None,
            "active_tab": "keys",
        },
        status=status,
    )
    if created:
        # The page carries a secret: keep it out of caches and the browser's page store.
        add_never_cache_headers(response)
    return response


@require_POST
@admin_required
def api_key_revoke(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = selectors.project_get(slug)
    key = get_object_or_404(ApiKey.objects.select_related("project"), pk=pk, project=project)
    if services.api_key_revoke(key=key, actor=request.user, request=request):
        messages.success(
            request, f"Key {key.prefix}… (“{key.name}”) is revoked. Clients using it now get 401."
        )
    else:
        messages.info(request, f"Key {key.prefix}… was already revoked.")
    return redirect("project-keys", slug=project.slug)
