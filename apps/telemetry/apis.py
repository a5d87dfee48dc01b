"""`GET /api/v1/analytics/series` and `/totals`: the analytics page's figures for scripts.
A project key sees its own project only; a team member sees every project."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.agents.apis import key_project
from apps.telemetry import analytics

PARAMETERS = [
    OpenApiParameter("range", str, enum=list(analytics.PRESETS),
                     description="A range ending now (default 24h); or give since and until."),
    OpenApiParameter("since", str,
                     description="ISO date-time, or a date (start of that day in `tz`)."),
    OpenApiParameter("until", str,
                     description="ISO date-time, or a date (end of that day in `tz`); default now."),
    OpenApiParameter("group_by", str, enum=list(analytics.GROUPS),
                     description="Default project. Tool calls split by project, agent, model and "
                                 "tool; usage by project, agent, model, issue and person."),
    OpenApiParameter("tz", str, description="IANA time zone for dates (default: the server's)."),
    OpenApiParameter("project", str, description="Project slugs or ids, comma-separated."),
    OpenApiParameter("agent", str, description="Agent ids, comma-separated."),
    OpenApiParameter("model", str, description="Model names, comma-separated."),
]

FIGURES = {
    "calls": serializers.IntegerField(help_text="Model calls with token usage."),
    "input_tokens": serializers.IntegerField(),
    "output_tokens": serializers.IntegerField(),
    "cache_read_tokens": serializers.IntegerField(),
    "cache_write_tokens": serializers.IntegerField(),
    "reasoning_tokens": serializers.IntegerField(),
    "cost_usd": serializers.DecimalField(max_digits=20, decimal_places=8),
    "calls_unknown_price": serializers.IntegerField(),
    "cache_hit_rate": serializers.FloatField(allow_null=True, help_text="Percent."),
    "tool_calls": serializers.IntegerField(),
    "errors": serializers.IntegerField(),
    "error_rate": serializers.FloatField(allow_null=True, help_text="Percent."),
    "latency_p50_ms": serializers.FloatField(allow_null=True),
    "latency_p95_ms": serializers.FloatField(allow_null=True),
}


def _query(request: Request) -> analytics.Query:
    try:
        return analytics.parse_query(request.query_params, project=key_project(request))
    except analytics.QueryError as exc:
        raise ValidationError(exc.errors) from None


def _head(query: analytics.Query) -> dict[str, Any]:
    return {"since": query.window.since.isoformat(), "until": query.window.until.isoformat(),
            "grain_seconds": int(query.window.grain), "group_by": query.group_by}


class SeriesView(APIView):
    @extend_schema(
        summary="Time series of cost, tokens, cache hit rate, tool latency and errors, "
                "agent-hours by status, time to unblock and alerts",
        parameters=PARAMETERS,
        responses=inline_serializer("AnalyticsSeries", {
            "since": serializers.DateTimeField(), "until": serializers.DateTimeField(),
            "grain_seconds": serializers.IntegerField(), "group_by": serializers.CharField(),
            "charts": serializers.DictField(help_text=(
                "By name (cost, tokens, cache, latency, errors, calls, status, unblock, "
                "alerts): {title, unit, kind, stacked, x: [unix seconds], series: "
                "[{label, values}]}")),
        }),
    )
    def get(self, request: Request) -> Response:
        query = _query(request)
        result = analytics.series(window=query.window, filters=query.filters,
                                  group_by=query.group_by)
        return Response({**_head(query), "charts": result.charts})


class TotalsView(APIView):
    @extend_schema(
        summary="Totals per group, with the same figures for the period just before",
        parameters=PARAMETERS,
        responses=inline_serializer("AnalyticsTotals", {
            "since": serializers.DateTimeField(), "until": serializers.DateTimeField(),
            "grain_seconds": serializers.IntegerField(), "group_by": serializers.CharField(),
            "groups": inline_serializer("AnalyticsGroup", {
                "key": serializers.CharField(), "label": serializers.CharField(), **FIGURES,
                "cost_delta_pct": serializers.FloatField(allow_null=True),
                "previous": inline_serializer("AnalyticsPrevious", FIGURES),
            }, many=True),
            "total": inline_serializer("AnalyticsTotal", FIGURES),
        }),
    )
    def get(self, request: Request) -> Response:
        query = _query(request)
        rows = analytics.totals(window=query.window, filters=query.filters,
                                group_by=query.group_by)
        total = analytics.grand_total(rows)
        return Response({
            **_head(query),
            "groups": [
                {"key": row.current.key, "label": row.current.label, **row.current.as_json(),
                 "cost_delta_pct": analytics.rounded(row.cost_delta_pct),
                 "previous": row.previous.as_json()}
                for row in rows
            ],
            "total": total.current.as_json(),
        })
