"""The suites, run, comparison and history pages.

The run page's live region (`run_detail.html#live`) is what the consumer
(apps/benches/consumers.py) pushes and what `?partial=live` serves while the socket is down.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.benches import pages, run_list, services
from apps.benches.markdown import run_markdown
from apps.benches.models import Endpoint, Run, Suite
from apps.benches.selectors import history as history_runs
from apps.benches.suite_forms import SuiteForm
from apps.core.permissions import admin_required, member_required
from apps.core.roles import is_admin
from apps.projects.selectors import current_project


# --- suites ----------------------------------------------------------------------------------
@require_GET
@member_required
def suites_page(request: HttpRequest) -> HttpResponse:
    project = current_project(request)
    suites = pages.suites_for(project if project is not None and not project.archived else None)
    endpoint_filter = None
    if request.GET.get("endpoint", "").isdigit():  # an endpoint card's "Suites" link
        endpoint_id = int(request.GET["endpoint"])
        suites = [s for s in suites if s.endpoint_id == endpoint_id]
        endpoint_filter = (Endpoint.objects.filter(pk=endpoint_id, project__archived=False)
                           .only("id", "name").first())
    ctx = {"suites": suites, "current_project": project}
    if request.GET.get("partial") == "last-runs":  # the live cells, while the socket is down
        return render(request, "benches/suites.html#last-runs", ctx)
    return render(request, "benches/suites.html", ctx | {
        "can_act": is_admin(request.user), "has_endpoints": _endpoints(project).exists(),
        "endpoint_filter": endpoint_filter,
    })


def _endpoints(project: Any) -> Any:
    qs = Endpoint.objects.filter(project__archived=False).select_related("project")
    return qs.filter(project=project) if project is not None else qs


@require_http_methods(["GET", "POST"])
@admin_required
def suite_new(request: HttpRequest) -> HttpResponse:
    return _suite_form(request, Suite(), _endpoints(current_project(request)))


@require_http_methods(["GET", "POST"])
@admin_required
def suite_edit(request: HttpRequest, pk: int) -> HttpResponse:
    suite = pages.suite_or_404(pk)
    return _suite_form(request, suite, _endpoints(suite.project))


def _suite_form(request: HttpRequest, suite: Suite, endpoints: Any) -> HttpResponse:
    form = SuiteForm(request.POST or None, instance=suite, endpoints=endpoints)
    if request.method == "POST" and form.is_valid():
        suite = form.instance
        suite.project_id = suite.endpoint.project_id
        try:
            services.suite_save(suite=suite, actor=request.user, request=request)
        except ValidationError as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, f"Suite “{suite.name}” saved.")
            return redirect("bench-suites")
    models = sorted({m for e in endpoints for m in (e.models_list or [])
                     if isinstance(m, str)} | {e.default_model for e in endpoints if e.default_model})
    return render(request, "benches/suite_form.html", {
        "form": form, "suite": suite, "models": models,
        "endpoint_models": {str(e.pk): e.models_list or [] for e in endpoints},
    })


@require_POST
@admin_required
def suite_delete(request: HttpRequest, pk: int) -> HttpResponse:
    suite = pages.suite_or_404(pk)
    services.suite_delete(suite=suite, actor=request.user, request=request)
    messages.success(request, f"Suite “{suite.name}” deleted; its runs are kept.")
    return redirect("bench-suites")


@require_POST
@admin_required
def suite_run(request: HttpRequest, pk: int) -> HttpResponse:
    suite = pages.suite_or_404(pk)
    confirm = request.POST.get("confirm") == "1"
    try:
        run = services.run_start(suite=suite, actor=request.user, confirm_foreign=confirm,
                                 request=request)
    except services.ForeignTraffic as exc:
        return render(request, "benches/run_confirm.html",
                      {"suite": suite, "count": exc.count})
    except services.EndpointBusy as exc:
        if exc.run_id:
            messages.warning(request, format_html(
                "{} is busy: <a href=\"{}\">run #{}</a> is using it. Wait for it to end, or "
                "cancel it.", suite.endpoint.name, reverse("bench-run", args=[exc.run_id]),
                exc.run_id))
        else:
            messages.warning(request, f"{suite.endpoint.name} is busy with another run.")
        return redirect("bench-suites")
    except ValidationError as exc:
        messages.error(request, "The suite cannot run: " + "; ".join(exc.messages))
        return redirect("bench-suites")
    return redirect("bench-run", pk=run.pk)


# --- the runs list --------------------------------------------------------------------------
@require_GET
@member_required
def runs_page(request: HttpRequest) -> HttpResponse:
    project = current_project(request)
    if project is not None and project.archived:
        raise Http404("The project is archived.")
    filters = run_list.RunFilters.parse(request.GET)
    page = pages.run_page(run_list.runs_for(project, filters), request.GET.get("page"))
    runs = run_list.decorate(page)
    ctx = _runs_context(project, filters, page, runs)
    if request.GET.get("partial") == "rows":
        return render(request, "benches/runs.html#rows", ctx)
    return render(request, "benches/runs.html", ctx | run_list.filter_choices(project))


def _runs_context(project: Any, filters: run_list.RunFilters, page: Any, runs: list[Run]
                  ) -> dict[str, Any]:
    query = filters.query()
    live_query = "&".join(q for q in (f"project={project.slug}" if project else "", query,
                                      f"page={page.number}" if page.number > 1 else "") if q)
    return {
        "page": page, "runs": runs, "filters": filters, "filter_query": query,
        "live_query": live_query, "list_version": run_list.list_version(runs),
        "show_project": project is None, "insert_new": page.number == 1,
        "current_project": project,
    }


# --- a run -----------------------------------------------------------------------------------
@require_GET
@member_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = pages.run_or_404(pk)
    snapshot = request.GET.get("partial") == "live"
    ctx = pages.run_context(run, can_act=is_admin(request.user), snapshot=snapshot)
    if snapshot:
        return render(request, "benches/run_detail.html#live", ctx)
    ctx["compare_choices"] = pages.compare_choices(run)
    return render(request, "benches/run_detail.html", ctx)


@require_POST
@admin_required
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = pages.run_or_404(pk)
    if run.active:
        services.run_cancel(run=run, actor=request.user, request=request)
        messages.info(request, "Cancelling: finished levels are kept.")
    return redirect("bench-run", pk=run.pk)


@require_POST
@admin_required
def run_pin(request: HttpRequest, pk: int) -> HttpResponse:
    run = pages.run_or_404(pk)
    if run.suite is None:
        raise Http404("The run has no suite.")
    unpin = request.POST.get("unpin") == "1"
    try:
        services.baseline_pin(suite=run.suite, run=None if unpin else run, actor=request.user,
                              request=request)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"Baseline of “{run.suite.name}” unpinned." if unpin
                         else f"Run #{run.pk} is now the baseline of “{run.suite.name}”.")
    return redirect("bench-run", pk=run.pk)


@require_GET
@member_required
def run_export(request: HttpRequest, pk: int) -> HttpResponse:
    run = pages.run_or_404(pk)
    rows = pages.level_rows(list(run.levels.all()))
    text = run_markdown(run, rows, url=request.build_absolute_uri(reverse("bench-run", args=[pk])))
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="bench-run-{run.pk}.md"'
    return response


# --- comparison and history ------------------------------------------------------------------
def _run_param(request: HttpRequest, name: str) -> Run:
    try:
        pk = int(request.GET.get(name, ""))
    except ValueError:
        raise Http404(f"Give ?{name}= a run id.") from None
    return pages.run_or_404(pk)


@require_GET
@member_required
def compare_page(request: HttpRequest) -> HttpResponse:
    a, b = _run_param(request, "a"), _run_param(request, "b")
    return render(request, "benches/compare.html",
                  {"a": a, "b": b, **pages.comparison(a, b)})


@require_GET
@member_required
def history_page(request: HttpRequest) -> HttpResponse:
    try:
        endpoint_id = int(request.GET.get("endpoint", ""))
    except ValueError:
        raise Http404("Give ?endpoint= an endpoint id.") from None
    endpoint = (Endpoint.objects.filter(pk=endpoint_id, project__archived=False)
                .select_related("project").first())
    if endpoint is None:
        raise Http404("No such endpoint.")
    model = request.GET.get("model", "") or endpoint.default_model
    finished = list(history_runs(endpoint_id=endpoint.pk, model=model))
    runs = (Run.objects.filter(endpoint=endpoint, model=model)
            .select_related("started_by", "suite").annotate(level_count=Count("levels"))
            .order_by("-created_at", "-id"))
    page = pages.run_page(runs, request.GET.get("page"))
    baselines = set(Suite.objects.filter(endpoint=endpoint, baseline__isnull=False)
                    .values_list("baseline_id", flat=True))
    suites = list(Suite.objects.filter(endpoint=endpoint).only("pk", "name", "model"))
    return render(request, "benches/history.html", {
        "endpoint": endpoint, "model": model, "page": page, "baselines": baselines,
        "charts": pages.history_charts(finished) if finished else {}, "finished": len(finished),
        "suites": [s for s in suites if (s.model or endpoint.default_model) == model],
    })
