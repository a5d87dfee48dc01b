"""HTML views: the inbox (live), an alert's history, rule settings, team channels and a
person's own channels. Thin: parse, check the role, call a service or selector, render."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from apps.alerts import selectors, services, throttle, vapid
from apps.alerts.forms import AlertRuleForm, PersonalForm, PolicyForm, TeamChannelForm
from apps.alerts.models import (
    WATCH_PRESETS,
    Alert,
    AlertPolicy,
    AlertRule,
    PersonalSettings,
    PushSubscription,
    Severity,
    TeamChannel,
    default_severities,
)
from apps.core import roles
from apps.core.permissions import admin_required, member_required
from apps.core.redirects import local_next
from apps.projects.selectors import current_project


# --- inbox ----------------------------------------------------------------------------------
def _inbox_context(request: HttpRequest) -> dict:
    project = current_project(request)
    filters = selectors.InboxFilters.from_query(request.GET)
    page = selectors.inbox_page(project, filters, request.GET.get("page"))
    query = filters.as_query()
    if project:
        query["project"] = project.slug
    return {
        "page": page,
        "alerts": page.object_list,
        "filters": filters,
        "project": project,
        "query": urlencode(query),
        "can_act": roles.is_admin(request.user),
    }


@require_GET
@member_required
def inbox(request: HttpRequest) -> HttpResponse:
    ctx = _inbox_context(request)
    if request.htmx and request.GET.get("partial") == "list":
        # The list and, beside it, the counts in the page head (polling while offline).
        counts = {"counts": selectors.inbox_counts(ctx["project"]), "project": ctx["project"]}
        return HttpResponse(render_to_string("alerts/inbox.html#list", ctx, request)
                            + render_to_string("alerts/_counts.html", counts))
    services.inbox_mark_seen(user=request.user)
    from apps.alerts.models import AlertRule as Rule

    ctx |= {
        "counts": selectors.inbox_counts(ctx["project"]),
        "severities": Severity.choices,
        "rules": Rule.objects.only("id", "name").order_by("name")[:200],
        "states": [("active", "Active"), ("open", "Open"), ("acknowledged", "Acknowledged"),
                   ("snoozed", "Snoozed"), ("resolved", "Resolved"), ("all", "All")],
    }
    return render(request, "alerts/inbox.html", ctx)


def _snooze_moment(request: HttpRequest) -> datetime:
    """The snooze the form asked for (1h, tomorrow, or a custom datetime-local value)."""
    from django.utils.dateparse import parse_datetime

    raw = request.POST.get("until", "").strip()
    return services.snooze_until(choice=request.POST.get("snooze", ""),
                                 custom=parse_datetime(raw) if raw else None)


@require_POST
@admin_required
def alert_snooze(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    if request.POST.get("snooze") == "off":
        services.alert_unsnooze(alert=alert, user=request.user, request=request)
        return _after_action(request, alert)
    try:
        until = _snooze_moment(request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(local_next(request, reverse("alerts-detail", args=[alert.pk])))
    if not services.alert_snooze(alert=alert, until=until, user=request.user, request=request):
        messages.info(request, "That alert was already resolved.")
    elif not request.htmx:
        messages.success(request, "Snoozed: it is back in the inbox when the snooze ends.")
    if request.htmx and request.POST.get("view") in selectors.AWAKE_FILTERS:
        return HttpResponse("")  # the row leaves this view
    return _after_action(request, alert)


@require_POST
@admin_required
def alerts_bulk(request: HttpRequest) -> HttpResponse:
    """The inbox's bulk bar: a plain form post (works without JavaScript), then back."""
    back = local_next(request, reverse("alerts-inbox"))
    ids = [int(v) for v in request.POST.getlist("alert") if v.isdigit()][:500]
    action = request.POST.get("action", "")
    if not ids:
        messages.info(request, "Tick the alerts to act on first.")
        return redirect(back)
    try:
        until = _snooze_moment(request) if action == "snooze" else None
        project = current_project(request)
        qs = selectors.alerts_in([project.pk] if project else None).filter(pk__in=ids)
        done = services.alerts_bulk(alerts=list(qs.order_by("id")), action=action,
                                    user=request.user, until=until, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    verb = {"ack": "acknowledged", "resolve": "resolved", "snooze": "snoozed"}[action]
    messages.success(request, f"{done} alert{'s' if done != 1 else ''} {verb}"
                     + (f" ({len(ids) - done} already were)." if done < len(ids) else "."))
    return redirect(back)


# --- mutes ----------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@member_required
def mutes(request: HttpRequest) -> HttpResponse:
    """The mutes in force, and (admins) a new one for an agent or a rule."""
    if request.method == "POST":
        if not roles.is_admin(request.user):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        from apps.agents.models import Agent

        try:
            agent = rule = None
            if request.POST.get("agent", "").isdigit():
                agent = get_object_or_404(Agent, pk=int(request.POST["agent"]))
            if request.POST.get("rule", "").isdigit():
                rule = get_object_or_404(AlertRule, pk=int(request.POST["rule"]))
            mute = services.mute_create(user=request.user, agent=agent, rule=rule,
                                        until=services.mute_until(request.POST.get("for", "")),
                                        reason=request.POST.get("reason", ""), request=request)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Muted {mute.subject_label}: its new alerts are recorded "
                                      "but not notified.")
        return redirect(local_next(request, reverse("alerts-mutes")))
    return render(request, "alerts/mutes.html", {
        "mutes": selectors.active_mutes(), "can_act": roles.is_admin(request.user),
    })


@require_POST
@admin_required
def mute_lift(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.alerts.models import AlertMute

    mute = get_object_or_404(AlertMute, pk=pk)
    if services.mute_lift(mute=mute, user=request.user, request=request):
        messages.success(request, f"Unmuted {mute.subject_label}.")
    return redirect(local_next(request, reverse("alerts-mutes")))


@require_GET
@member_required
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = selectors.alert_detail(pk)
    if alert is None:
        from django.http import Http404

        raise Http404("No such alert.")
    from apps.agents.approvals import pending_approval

    return render(request, "alerts/detail.html",
                  {"alert": alert, "can_act": roles.is_admin(request.user),
                   "approval": pending_approval(alert.agent_id),
                   "mute_durations": services.MUTE_DURATIONS})


def _after_action(request: HttpRequest, alert: Alert) -> HttpResponse:
    if request.htmx:
        alert = selectors.alert_row(alert.pk) or alert
        return render(request, "alerts/_row.html",
                      {"alert": alert, "can_act": True, "request": request})
    return redirect(local_next(request, reverse("alerts-detail", args=[alert.pk])))


@require_POST
@admin_required
def alert_ack(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    if not services.alert_acknowledge(alert=alert, user=request.user) and not request.htmx:
        messages.info(request, "That alert was not open any more.")
    return _after_action(request, alert)


@require_POST
@admin_required
def alert_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    if not services.alert_resolve(alert=alert, user=request.user) and not request.htmx:
        messages.info(request, "That alert was already resolved.")
    return _after_action(request, alert)


# --- rules ----------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@admin_required
def rules(request: HttpRequest) -> HttpResponse:
    policy = AlertPolicy.current()
    form = PolicyForm(request.POST or None, instance=policy)
    if request.method == "POST":
        if form.is_valid():
            services.policy_update(actor=request.user, request=request, **form.cleaned_data)
            messages.success(request, "Quiet hours saved.")
            return redirect("alerts-rules")
        messages.error(request, "Quiet hours were not saved: see below.")
    return render(request, "alerts/rules.html", {
        "rules": selectors.rule_list(),
        "policy_form": form,
        "budgets": [(sev, throttle.max_per_hour(sev)) for sev in ("critical", "warning", "info")],
    })


@require_http_methods(["GET", "POST"])
@admin_required
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk) if pk is not None else AlertRule()
    form = AlertRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.rule_save(rule=form.save(commit=False), actor=request.user,
                                       request=request)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Rule “{saved.name}” saved.")
            return redirect("alerts-rules")
    from apps.alerts.kinds import KNOWN_KINDS

    offered = {value for value, _ in WATCH_PRESETS}
    return render(request, "alerts/rule_form.html",
                  {"form": form, "rule": rule, "presets": WATCH_PRESETS,
                   "other_kinds": sorted(KNOWN_KINDS - offered)},
                  status=400 if request.method == "POST" else 200)


@require_POST
@admin_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    name = rule.name
    services.rule_delete(rule=rule, actor=request.user, request=request)
    messages.success(request, f"Rule “{name}” deleted; its alerts stay in the inbox.")
    return redirect("alerts-rules")


# --- team channels ---------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@admin_required
def channels(request: HttpRequest) -> HttpResponse:
    form = TeamChannelForm(request.POST or None, initial={"kind": request.GET.get("kind", "slack")})
    if request.method == "POST" and form.is_valid():
        channel = services.team_channel_create(actor=request.user, request=request,
                                               **form.cleaned_data)
        messages.success(request, f"{channel} added. Send a test to check it.")
        return redirect("alerts-channels")
    team = list(TeamChannel.objects.order_by("kind", "name", "id"))
    return render(request, "alerts/channels.html", {
        "channels": team,
        "form": form,
        "tests": selectors.recent_tests(channel_ids=[c.pk for c in team]),
    }, status=400 if request.method == "POST" else 200)


@require_POST
@admin_required
def channel_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(TeamChannel, pk=pk)
    services.team_channel_update(channel=channel, actor=request.user, request=request,
                                 enabled=not channel.enabled)
    return redirect("alerts-channels")


@require_POST
@admin_required
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(TeamChannel, pk=pk)
    services.team_channel_delete(channel=channel, actor=request.user, request=request)
    messages.success(request, f"{channel} removed.")
    return redirect("alerts-channels")


@require_POST
@admin_required
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(TeamChannel, pk=pk)
    services.team_channel_test(channel=channel)
    messages.info(request, f"Test sent to {channel}. Its result shows below in a moment.")
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect("alerts-channels")


# --- personal channels ------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@member_required
def personal(request: HttpRequest) -> HttpResponse:
    prefs = PersonalSettings.objects.filter(user=request.user).first()
    initial = {
        "email_enabled": prefs.email_enabled if prefs else True,
        "email": prefs.email if prefs else "",
        "push_enabled": prefs.push_enabled if prefs else True,
        "severities": prefs.severities if prefs else default_severities(),
    }
    form = PersonalForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.personal_settings_update(user=request.user, **form.cleaned_data)
        messages.success(request, "Your notification settings are saved.")
        return redirect("alerts-personal")
    return render(request, "alerts/personal.html", {
        "form": form,
        "account_email": request.user.email,
        "subscriptions": PushSubscription.objects.filter(user=request.user),
        "vapid_public_key": vapid.public_key(),
        "tests": selectors.recent_tests(user=request.user),
    }, status=400 if request.method == "POST" else 200)


@require_POST
@member_required
def personal_test(request: HttpRequest) -> HttpResponse:
    channel = request.POST.get("channel", "")
    try:
        services.personal_test(user=request.user, channel=channel)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(request, "Test sent. Its result shows below in a moment.")
    return redirect("alerts-personal")


@require_POST
@member_required
def push_subscribe(request: HttpRequest) -> HttpResponse:
    try:
        body = json.loads(request.body or b"{}")
        keys = body.get("keys") or {}
        sub = services.push_subscribe(
            user=request.user, browser_id=str(body.get("browser_id", "")),
            endpoint=str(body.get("endpoint", "")), p256dh=str(keys.get("p256dh", "")),
            auth=str(keys.get("auth", "")),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except (ValueError, AttributeError):
        return JsonResponse({"error": "Send the browser's PushSubscription as JSON."}, status=400)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse({"id": sub.pk, "status": "subscribed"}, status=201)


@require_POST
@member_required
def push_unsubscribe(request: HttpRequest) -> HttpResponse:
    sub_id = request.POST.get("subscription")
    if sub_id is not None:
        try:
            deleted = services.push_unsubscribe(user=request.user, subscription_id=int(sub_id))
        except ValueError:
            deleted = 0
        if deleted:
            messages.success(request, "That browser will not get pushes any more.")
        return redirect("alerts-personal")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    deleted = services.push_unsubscribe(user=request.user, browser_id=str(body.get("browser_id", "")))
    return JsonResponse({"deleted": deleted})


# --- the service worker ------------------------------------------------------------------------
SW_PATH = Path(settings.BASE_DIR) / "static" / "js" / "sw.js"


@require_GET
@never_cache
def service_worker(request: HttpRequest) -> HttpResponse:
    """Served from / so its scope covers every page (a worker under /static/ could not)."""
    response = HttpResponse(SW_PATH.read_bytes(), content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response
