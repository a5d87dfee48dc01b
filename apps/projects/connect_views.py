"""/projects/<slug>/connect/: how to connect each agent to this project, a key made for it in
one click (admins), and a live "waiting for first data" indicator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from apps.agents.selectors import connect_status
from apps.core import links, roles
from apps.core.permissions import forbidden, member_required
from apps.projects import connect, selectors, services
from apps.projects.models import ApiKey, ApiKeyScope, Project

# The raw key of a key made here waits in the session for exactly one page view: the POST
# redirects (so a reload cannot make a second key) and the GET after it takes it out.
SESSION_KEY = "connect_new_key"


def _agent_slug(value: str | None) -> str:
    return value if value in connect.SLUGS else connect.SLUGS[0]


def _opened(request: HttpRequest) -> datetime:
    """When the page was first rendered: the poll carries it as ?opened=<ms since epoch>."""
    try:
        ms = int(request.GET.get("opened", ""))
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


def status_context(project: Project, *, opened: datetime, snapshot: bool) -> dict[str, Any]:
    """What the status partial needs; also what apps/realtime renders it with."""
    return {
        "project": project,
        "snapshot": snapshot,
        **connect_status(project, opened=opened),
    }


@require_http_methods(["GET", "POST"])
@member_required
def project_connect(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(slug)
    if request.method == "POST":
        return _create_key(request, project)
    opened = _opened(request)
    if request.GET.get("partial") == "status":
        return render(request, "projects/connect.html#status",
                      status_context(project, opened=opened, snapshot=True))

    created, raw = _take_new_key(request, project)
    agent = _agent_slug(request.GET.get("agent"))
    site_url = links.site_url(request)
    opened_ms = int(opened.timestamp() * 1000)
    query = urlencode({"project": project.slug, "opened": opened_ms})
    ctx = {
        **status_context(project, opened=opened, snapshot=False),
        "guides": connect.guides(site_url=site_url, key=raw),
        "selected": agent,
        "selected_name": connect.guide_name(agent),
        "site_url": site_url,
        "can_manage": roles.is_admin(request.user),
        "created_key": created,
        "raw_key": raw,
        "active_keys": ApiKey.objects.active().filter(project=project).count(),
        "ws_url": f"/ws/connect/?{query}",
        "poll_url": f"{reverse('project-connect', args=[project.slug])}?partial=status&{query}",
        "active_tab": "connect",
    }
    response = render(request, "projects/connect.html", ctx)
    if raw:
        # The page carries a secret: keep it out of caches and the browser's page store.
        add_never_cache_headers(response)
    return response


def _create_key(request: HttpRequest, project: Project) -> HttpResponse:
    if not roles.is_admin(request.user):
        return forbidden(request, roles.Role.ADMIN)
    agent = _agent_slug(request.POST.get("agent"))
    url = f"{reverse('project-connect', args=[project.slug])}?agent={agent}"
    if project.archived:
        messages.error(request, "This project is archived. Unarchive it to create keys.")
        return redirect(url)
    key, raw = services.api_key_create(
        project=project,
        name=f"Connect: {connect.guide_name(agent)}",
        scope=ApiKeyScope.WRITE,
        created_by=request.user,
        request=request,
    )
    request.session[SESSION_KEY] = {"project": project.pk, "key": key.pk, "raw": raw}
    return redirect(url)


def _take_new_key(request: HttpRequest, project: Project) -> tuple[ApiKey | None, str]:
    """The key made by the POST just before this view, once; (None, "") otherwise. A key made
    for another project stays for that project's page."""
    stash = request.session.get(SESSION_KEY)
    if not isinstance(stash, dict) or stash.get("project") != project.pk:
        return None, ""
    del request.session[SESSION_KEY]
    key = ApiKey.objects.filter(pk=stash.get("key"), project=project).first()
    if key is None or not key.is_active:
        return None, ""
    return key, str(stash.get("raw", ""))


@require_http_methods(["GET", "HEAD"])
def client_download(request: HttpRequest, name: str) -> HttpResponse:
    """The agent-side scripts, so the Connect page's snippets are one `curl` each. Public: they
    hold no secret (the key goes into the agent's environment, not the file)."""
    from django.http import Http404

    relative = connect.DOWNLOADS.get(name)
    if relative is None:
        raise Http404("No such client file.")
    path = settings.BASE_DIR / relative
    try:
        content = path.read_bytes()
    except OSError:
        raise Http404("This server was installed without its clients/ folder.") from None
    response = HttpResponse(content, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Cache-Control"] = "public, max-age=300"
    return response
