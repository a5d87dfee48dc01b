"""HTML views: the live board, card moves and assignment, the Linear settings page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core import roles
from apps.core.links import absolute_url
from apps.core.permissions import admin_required, forbidden, member_required
from apps.core.redirects import local_next
from apps.linear import selectors, services
from apps.linear.client import LinearError
from apps.linear.forms import ApiKeyForm, MappingForm
from apps.linear.models import (
    DeliveryStatus,
    LinearConnection,
    LinearIssue,
    LinearTeam,
    LinearWorkflowState,
    ProjectMapping,
    SyncRun,
    SyncStatus,
    WebhookDelivery,
)
from apps.projects.selectors import current_project


# --- board ---------------------------------------------------------------------------------
@require_GET
@member_required
def board(request: HttpRequest) -> HttpResponse:
    mappings = selectors.board_mappings()
    mapping = selectors.pick_mapping(
        mappings, project=current_project(request), board_id=request.GET.get("board")
    )
    ctx: dict[str, Any] = {
        "mappings": mappings,
        "mapping": mapping,
        "can_edit": roles.is_admin(request.user),
    }
    if mapping is not None:
        filters = selectors.BoardFilters.parse(request.GET)
        query = {"board": mapping.pk, **filters.as_query()}
        ctx.update(
            filters=filters,
            columns=selectors.board_columns(mapping, filters),
            choices=selectors.filter_choices(mapping),
            ws_url=f"/ws/board/?{urlencode(query)}",
            poll_url=f"{reverse('board')}?{urlencode({**query, 'partial': 'board'})}",
        )
    if request.htmx and request.GET.get("partial") == "board" and mapping is not None:
        return render(request, "linear/board.html#board", ctx)
    return render(request, "linear/board.html", ctx)


def _issue_or_404(pk: int) -> LinearIssue:
    return get_object_or_404(
        LinearIssue.objects.select_related("state", "team"), pk=pk, deleted_at__isnull=True
    )


@require_POST
@member_required
def board_move(request: HttpRequest, pk: int) -> HttpResponse:
    if not roles.is_admin(request.user):
        return JsonResponse({"error": "Only admins may move issues."}, status=403)
    issue = _issue_or_404(pk)
    raw = request.POST.get("state", "")
    state = LinearWorkflowState.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if state is None:
        return JsonResponse({"error": "Unknown column."}, status=400)
    try:
        issue = services.issue_move(issue=issue, state=state, actor=request.user)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {"ok": True, "issue": issue.pk, "state": state.pk, "version": issue.version}
    )


@require_POST
@admin_required
def board_assign(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.agents.models import Agent
    from apps.linear.routing import issue_assign_manual

    issue = _issue_or_404(pk)
    raw = request.POST.get("agent", "")
    agent = Agent.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if agent is None:
        messages.error(request, "Choose an agent.")
    else:
        try:
            issue_assign_manual(issue=issue, agent=agent, actor=request.user)
            messages.success(request, f"{issue.identifier} assigned to {agent.name}.")
        except ValueError as exc:
            messages.error(request, str(exc))
    return redirect(local_next(request, reverse("board")))


# --- settings ------------------------------------------------------------------------------
OWNER_ACTIONS = {"key", "clear_key", "webhook"}


@require_http_methods(["GET", "POST"])
@admin_required
def linear_settings(request: HttpRequest) -> HttpResponse:
    conn = LinearConnection.get()
    key_form = ApiKeyForm()
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action in OWNER_ACTIONS and not roles.is_owner(request.user):
            return forbidden(request, roles.Role.OWNER)
        if action == "key":
            key_form = ApiKeyForm(request.POST)
            if key_form.is_valid():
                try:
                    services.connection_set_key(
                        api_key=key_form.cleaned_data["api_key"],
                        actor=request.user,
                        request=request,
                    )
                except LinearError as exc:
                    key_form.add_error("api_key", f"Linear did not accept this key: {exc}")
                else:
                    messages.success(request, "API key saved. A full sync has started.")
                    _enqueue_full_sync()
                    return redirect("linear-settings")
        elif action == "clear_key":
            services.connection_clear_key(actor=request.user, request=request)
            messages.success(request, "The stored API key was removed.")
            return redirect("linear-settings")
        elif action == "webhook":
            url = webhook_url(request)
            try:
                services.connection_register_webhook(url=url, actor=request.user, request=request)
                messages.success(request, f"Webhook registered in Linear for {url}.")
            except LinearError as exc:
                messages.error(request, f"Linear refused the webhook: {exc}")
            return redirect("linear-settings")
        elif action in ("sync_full", "sync_now"):
            if action == "sync_full":
                _enqueue_full_sync()
            else:
                from apps.linear.tasks import incremental_sync

                transaction.on_commit(lambda: incremental_sync.delay())
            messages.success(request, "Sync started; the log below updates when it finishes.")
            return redirect("linear-settings")
        elif action == "mapping":
            return _save_mapping(request)
        else:
            messages.error(request, "Unknown action.")
            return redirect("linear-settings")
    return render(request, "linear/settings.html", _settings_context(request, conn, key_form))


def _enqueue_full_sync() -> None:
    from apps.linear.tasks import full_sync

    transaction.on_commit(lambda: full_sync.delay())


def webhook_url(request: HttpRequest) -> str:
    return absolute_url(reverse("linear-webhook"), request)


def _save_mapping(request: HttpRequest) -> HttpResponse:
    from apps.projects.models import Project

    raw = request.POST.get("project", "")
    project = get_object_or_404(Project, pk=int(raw)) if raw.isdigit() else None
    if project is None:
        messages.error(request, "Unknown project.")
        return redirect("linear-settings")
    form = MappingForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("linear-settings")
    try:
        services.mapping_set(
            project=project,
            team=form.cleaned_data["team"],
            linear_project=form.cleaned_data["linear_project"],
            actor=request.user,
            request=request,
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Mapping for {project.name} saved.")
    return redirect("linear-settings")


def _settings_context(
    request: HttpRequest, conn: LinearConnection, key_form: ApiKeyForm
) -> dict[str, Any]:
    from apps.projects.models import Project

    day_ago = timezone.now() - timedelta(hours=24)
    deliveries = WebhookDelivery.objects.only(
        "delivery_id", "resource_type", "action", "status", "error", "received_at", "processed_at"
    )
    recent = list(deliveries[:10])
    mappings = {
        m.project_id: m for m in ProjectMapping.objects.select_related("team", "linear_project")
    }
    projects = list(Project.objects.active())
    teams = list(LinearTeam.objects.filter(archived_at__isnull=True).prefetch_related("projects"))
    key_source = "env" if settings.LINEAR_API_KEY else ("stored" if conn.api_key_encrypted else "")
    secret_source = (
        "env"
        if settings.LINEAR_WEBHOOK_SECRET
        else ("stored" if conn.webhook_secret_encrypted else "")
    )
    last_run = SyncRun.objects.first()
    return {
        "conn": conn,
        "key_form": key_form,
        "key_source": key_source,
        "secret_source": secret_source,
        "api_url": conn.api_url or settings.LINEAR_API_URL,
        "webhook_endpoint": webhook_url(request),
        "runs": list(SyncRun.objects.all()[:8]),
        "last_run": last_run,
        "running": last_run is not None
        and last_run.status in (SyncStatus.RUNNING, SyncStatus.WAITING),
        "deliveries": recent,
        "last_delivery": recent[0] if recent else None,
        "deliveries_24h": deliveries.filter(received_at__gte=day_ago).count(),
        "failures_24h": deliveries.filter(
            received_at__gte=day_ago, status=DeliveryStatus.FAILED
        ).count(),
        "mapping_rows": [(p, mappings.get(p.pk)) for p in projects],
        "teams": teams,
        "issue_count": LinearIssue.objects.filter(deleted_at__isnull=True).count(),
        "sync_interval": settings.LINEAR_SYNC_INTERVAL_SECONDS,
        "is_owner": roles.is_owner(request.user),
        **_agent_app_context(request),
    }


def _agent_app_context(request: HttpRequest) -> dict[str, Any]:
    from apps.linear.app_install import app_configured
    from apps.linear.app_views import callback_url
    from apps.linear.models_agent import LinearAgentSession, LinearAppInstall

    return {
        "app_configured": app_configured(),
        "app_callback": callback_url(request),
        "app_installs": list(LinearAppInstall.objects.all()),
        "agent_sessions": list(LinearAgentSession.objects.select_related("agent")[:10]),
    }
