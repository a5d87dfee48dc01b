"""Routing rules pages (admins): list, create, edit, delete."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.audit import audit_record
from apps.core.permissions import admin_required
from apps.linear.forms import RoutingRuleForm, TargetFormSet
from apps.linear.models import LinearIssue, RoutingRule, RoutingTarget


@require_GET
@admin_required
def routing_list(request: HttpRequest) -> HttpResponse:
    rules = (
        RoutingRule.objects.select_related("team", "linear_project", "label", "complete_state")
        .prefetch_related(
            Prefetch("targets", queryset=RoutingTarget.objects.select_related("agent"))
        )
        .annotate(waiting=Count("issues", filter=Q(issues__route_waiting_since__isnull=False)))
    )
    waiting = LinearIssue.objects.filter(route_waiting_since__isnull=False).count()
    return render(request, "linear/routing_list.html", {"rules": rules, "waiting": waiting})


@require_http_methods(["GET", "POST"])
@admin_required
def routing_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=pk) if pk is not None else None
    form = RoutingRuleForm(request.POST or None, instance=rule)
    formset = TargetFormSet(request.POST or None, instance=rule or RoutingRule(), prefix="targets")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        with transaction.atomic():
            saved = form.save()
            formset.instance = saved
            formset.save()
            audit_record(
                "linear.routing_rule_saved",
                actor=request.user,
                request=request,
                target=saved,
                data={"created": rule is None},
            )
        # New targets may free waiting issues right away.
        from apps.linear.tasks import assign_waiting

        transaction.on_commit(lambda: assign_waiting.delay())
        messages.success(request, f"Rule “{saved.name}” saved.")
        return redirect("linear-routing")
    return render(
        request, "linear/routing_form.html", {"form": form, "formset": formset, "rule": rule}
    )


@require_POST
@admin_required
def routing_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=pk)
    with transaction.atomic():
        audit_record(
            "linear.routing_rule_deleted", actor=request.user, request=request, target=rule
        )
        LinearIssue.objects.filter(route_rule=rule).update(route_waiting_since=None)
        rule.delete()
    messages.success(request, "Rule deleted.")
    return redirect("linear-routing")
