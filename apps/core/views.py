from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from apps.core.health import run_checks
from apps.core.models import ServiceBeat
from apps.core.permissions import member_required, owner_required


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness for load balancers: which dependency is down, for anyone; why (error strings,
    timings) only for a probe on this machine (loopback, not through a proxy) or a signed-in
    admin, since error strings name hosts and configuration."""
    ok, checks = run_checks()
    if not _may_see_details(request):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    return JsonResponse({"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503)


def _may_see_details(request: HttpRequest) -> bool:
    import ipaddress

    from apps.core import roles

    try:
        local = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        local = False
    if local and "HTTP_X_FORWARDED_FOR" not in request.META:
        return True
    return roles.is_admin(getattr(request, "user", None))


@require_http_methods(["GET", "POST"])
@owner_required
def system_status(request: HttpRequest) -> HttpResponse:
    """Owners see whether the background worker and beat are alive, and can ping the worker;
    and what retention keeps, with a form for its windows."""
    from apps.telemetry import services as telemetry_services
    from apps.telemetry.forms import RetentionForm
    from apps.telemetry.models import RetentionPolicy
    from apps.telemetry.storage import storage_overview

    retention_form = None
    if request.method == "POST" and request.POST.get("action") == "retention":
        retention_form = RetentionForm(request.POST)
        if retention_form.is_valid():
            telemetry_services.retention_policy_save(
                values=retention_form.values(), actor=request.user, request=request
            )
            messages.success(request, "Retention windows saved; the next run applies them.")
            return redirect("system-status")
    elif request.method == "POST":
        from apps.core.tasks import ping_worker

        user = request.user.get_username()
        transaction.on_commit(lambda: ping_worker.delay(requested_by=user))
        messages.info(request, "Worker ping sent; this page shows when it answers.")
        return redirect("system-status")
    policy = RetentionPolicy.objects.filter(pk=1).first()
    if retention_form is None:
        retention_form = RetentionForm(initial=RetentionForm.initial_from(policy))
    storage = [(row, retention_form[row.key]) for row in storage_overview(policy)]
    beats = {b.name: b for b in ServiceBeat.objects.all()}
    ok, checks = run_checks()
    return render(
        request,
        "core/system.html",
        {
            "beat": beats.get("beat"),
            "worker": beats.get("worker"),
            "checks": checks,
            "ready": ok,
            "embedded": settings.EMBEDDED,
            "database_vendor": connection.vendor,
            "retention_form": retention_form,
            "storage": storage,
            "retention_every_minutes": round(settings.RETENTION_RUN_SECONDS / 60),
        },
        status=400 if retention_form.is_bound else 200,
    )


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin has no login form of its own: it signs in through the site's login (allauth),
    so one lockout after failed attempts covers both, and GitHub sign-in works for it too."""
    from urllib.parse import urlencode

    from django.contrib import admin
    from django.urls import reverse

    from apps.core import roles
    from apps.core.permissions import forbidden
    from apps.core.redirects import local_next

    target = local_next(request, "/admin/")
    if request.user.is_authenticated:
        if admin.site.has_permission(request):  # owners (apps.core.admin)
            return redirect(target)
        return forbidden(request, roles.Role.OWNER)  # signed in, but the admin is for owners
    return redirect(f"{reverse('account_login')}?{urlencode({'next': target})}")


@require_GET
@member_required
def search(request: HttpRequest) -> HttpResponse:
    """The header's live results (htmx, as you type) and the /search/?q= page without JS."""
    from apps.core.search import MIN_LENGTH, clean_query
    from apps.core.search import search as run_search
    from apps.projects.selectors import current_project

    query = clean_query(request.GET.get("q"))
    project = current_project(request)
    ctx = {"q": query, "groups": run_search(query, project=project), "min_length": MIN_LENGTH,
           "too_short": 0 < len(query) < MIN_LENGTH, "current_project": project}
    if request.htmx:
        return render(request, "core/search.html#results", ctx)
    return render(request, "core/search.html", ctx)
