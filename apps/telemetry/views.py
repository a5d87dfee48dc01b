"""Telemetry pages: the analytics page, and `/metrics` for Prometheus."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.core.permissions import member_required


@csrf_exempt  # a machine's bearer token, no cookies: nothing for CSRF to protect
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (apps/telemetry/metrics.py), for whoever holds METRICS_TOKEN; a 404 like
    any unknown page while the token is unset. Sessions play no part, an owner's included."""
    from apps.telemetry import metrics

    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    if not _bearer_matches(request.headers.get("Authorization", ""), token):
        response = HttpResponse("A valid bearer token is required.\n", status=401,
                                content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)


def _bearer_matches(header: str, token: str) -> bool:
    import hmac

    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # As bytes: compare_digest refuses str holding anything but ASCII.
    return hmac.compare_digest(given.strip().encode(), token.encode())


# --- analytics page -----------------------------------------------------------------------
TABLE_PAGE = 50
CHART_ORDER = ("cost", "tokens", "status", "latency", "calls", "errors", "cache", "unblock",
               "alerts")
CSV_COLUMNS = ("calls", "input_tokens", "output_tokens", "cache_read_tokens",
               "cache_write_tokens", "reasoning_tokens", "cost_usd", "calls_unknown_price",
               "cache_hit_rate", "tool_calls", "errors", "error_rate", "latency_p50_ms",
               "latency_p95_ms")
GROUP_LABELS = {"project": "Project", "agent": "Agent", "model": "Model", "tool": "Tool",
                "issue": "Linear issue", "person": "Assigned by"}


def _page_query(request: HttpRequest) -> tuple[Any, dict[str, str]]:
    """The page's query, or (a default query, errors to show) when the parameters are bad:
    the page never answers a 500 or an empty screen for a typo in the address bar."""
    from apps.projects.selectors import current_project
    from apps.telemetry import analytics

    params = request.GET.copy()
    for name in ("partial", "page"):
        params.pop(name, None)
    project = current_project(request)
    if project is not None and not params.get("project"):
        params["project"] = project.slug
    try:
        return analytics.parse_query(params), {}
    except analytics.QueryError as exc:
        fallback = {k: v for k, v in params.items() if k == "project" and k not in exc.errors}
        return analytics.parse_query(fallback), exc.errors


@require_GET
@member_required
def analytics_page(request: HttpRequest) -> HttpResponse:
    from django.core.paginator import Paginator

    from apps.telemetry import analytics

    query, errors = _page_query(request)
    rows = analytics.totals(window=query.window, filters=query.filters, group_by=query.group_by,
                            page_later=True)
    result = analytics.series(window=query.window, filters=query.filters,
                              group_by=query.group_by, rows=rows)
    total = analytics.overall(window=query.window, filters=query.filters)
    page = Paginator(rows, TABLE_PAGE).get_page(request.GET.get("page"))
    analytics.add_page_totals(page.object_list, window=query.window, filters=query.filters,
                              group_by=query.group_by)
    keep = request.GET.copy()
    keep.pop("page", None)
    return render(request, "telemetry/analytics.html", {
        "query": query,
        "errors": errors,
        "charts": [(name, result.charts[name]) for name in CHART_ORDER],
        "rollup_seconds": settings.TELEMETRY_ROLLUP_SECONDS,
        "page": page,
        "total": total,
        "presets": list(analytics.PRESETS),
        "groups": [(g, GROUP_LABELS[g]) for g in analytics.GROUPS],
        "group_label": GROUP_LABELS[query.group_by],
        "querystring": keep.urlencode(),
        "live": query.preset != "custom",
        "since_local": timezone.localtime(query.window.since, query.tz),
        "until_local": timezone.localtime(query.window.until, query.tz),
    })


@require_GET
@member_required
def analytics_csv(request: HttpRequest) -> HttpResponse:
    """The page's table with every group (not one page of it), as CSV."""
    import csv

    from apps.telemetry import analytics

    query, errors = _page_query(request)
    if errors:
        return HttpResponse("; ".join(f"{k}: {v}" for k, v in errors.items()), status=400,
                            content_type="text/plain; charset=utf-8")
    rows = analytics.totals(window=query.window, filters=query.filters, group_by=query.group_by)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = f"{query.window.since:%Y%m%d-%H%M}-{query.window.until:%Y%m%d-%H%M}"
    response["Content-Disposition"] = (
        f'attachment; filename="switchboard-{query.group_by}-{stamp}.csv"')
    writer = csv.writer(response)
    writer.writerow(["group", "key", *CSV_COLUMNS, "previous_cost_usd", "cost_delta_pct"])
    for row in rows:
        figures = row.current.as_json()
        writer.writerow([_csv(row.current.label), _csv(row.current.key),
                         *[_csv(figures[c]) for c in CSV_COLUMNS],
                         row.previous.as_json()["cost_usd"], _csv(row.cost_delta_pct)])
    return response


def _csv(value: Any) -> Any:
    """Spreadsheets run text starting with = + - @ as formulas: such text gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    if isinstance(value, float):
        return round(value, 2)
    if value is None:
        return ""
    return value


# --- scheduled reports ------------------------------------------------------------------------
REPORTS_PAGE = 20


def _digest_context(request: HttpRequest, form: Any = None) -> dict[str, Any]:
    """The "Your digest" card: the form, when the next one goes out, the latest deliveries."""
    from apps.alerts.models import Delivery, PersonalSettings, TeamChannel
    from apps.telemetry.forms import DigestForm
    from apps.telemetry.models import DigestCadence, ReportSubscription
    from apps.telemetry.reports import latest_period

    sub = (ReportSubscription.objects.filter(user=request.user).select_related("project")
           .first())
    if form is None:
        form = DigestForm(initial={
            "cadence": sub.cadence if sub else DigestCadence.OFF,
            "project": sub.project if sub else None,
            "channels": sub.channels if sub else ["email"],
        })
    upcoming = None
    if sub is not None and sub.cadence != DigestCadence.OFF:
        upcoming = latest_period(sub.cadence).earlier(-1)
    prefs = PersonalSettings.objects.filter(user=request.user).first()
    recent = (Delivery.objects.filter(user=request.user, notification__subject__startswith="report:")
              .select_related("notification").order_by("-id")[:4])
    return {
        "digest_form": form,
        "subscription": sub,
        "upcoming": upcoming,
        "email_address": (prefs.email if prefs else "") or request.user.email,
        "slack_channels": TeamChannel.objects.filter(enabled=True, kind="slack").count(),
        "recent_deliveries": recent,
    }


@require_GET
@member_required
def reports_page(request: HttpRequest) -> HttpResponse:
    return _reports_response(request)


def _reports_response(request: HttpRequest, form: Any = None, status: int = 200) -> HttpResponse:
    from django.core.paginator import Paginator
    from django.db.models import Q

    from apps.projects.selectors import current_project
    from apps.telemetry.digest import Digest
    from apps.telemetry.models import Report

    project = current_project(request)
    qs = Report.objects.select_related("project").order_by("-period_end", "-id")
    if project is not None:  # its own reports and those of all projects, which include it
        qs = qs.filter(Q(project=project) | Q(project__isnull=True))
    page = Paginator(qs, REPORTS_PAGE).get_page(request.GET.get("page"))
    rows = [(report, Digest(report.content)) for report in page]
    return render(request, "telemetry/reports.html", {
        "page": page, "rows": rows, "project": project, **_digest_context(request, form),
    }, status=status)


def _report(pk: int) -> Any:
    from django.shortcuts import get_object_or_404

    from apps.telemetry.models import Report

    return get_object_or_404(Report.objects.select_related("project"), pk=pk)


@require_GET
@member_required
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.telemetry.digest import Digest

    report = _report(pk)
    return render(request, "telemetry/report_detail.html",
                  {"report": report, "d": Digest(report.content)})


@require_GET
@member_required
def report_markdown(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.telemetry.digest import Digest, markdown, report_url

    report = _report(pk)
    response = HttpResponse(markdown(Digest(report.content, url=report_url(report.pk))),
                            content_type="text/markdown; charset=utf-8")
    scope = report.project.slug if report.project else "all"
    day = timezone.localtime(report.period_start).date()
    response["Content-Disposition"] = (
        f'attachment; filename="switchboard-{report.cadence}-{scope}-{day:%Y-%m-%d}.md"')
    return response


@require_POST
@member_required
def digest_save(request: HttpRequest) -> HttpResponse:
    from django.contrib import messages
    from django.shortcuts import redirect

    from apps.telemetry.forms import DigestForm
    from apps.telemetry.services import report_subscription_update

    form = DigestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Your digest was not saved: see below.")
        return _reports_response(request, form, status=400)
    sub = report_subscription_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Your digest is off." if sub.cadence == "off"
                     else f"Your {sub.get_cadence_display().lower()} digest is saved.")
    return redirect("reports")


@require_POST
@member_required
def digest_test(request: HttpRequest) -> HttpResponse:
    from django.contrib import messages
    from django.core.exceptions import ValidationError
    from django.shortcuts import redirect

    from apps.telemetry.services import report_send_test

    try:
        report = report_send_test(user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(request, f"Test digest sent: “{report.title}”. It arrives in a moment; "
                               "its result shows below.")
    return redirect("reports")
