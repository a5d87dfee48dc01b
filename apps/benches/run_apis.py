"""`/api/v1/benches/suites` and `/api/v1/benches/runs`: suites, starting and cancelling runs,
their results and raw samples.

A project API key sees and starts runs in its own project only (a write-scoped key: runs are
started by admins, and keys are issued by admins); a browser session: members read, admins
write. Starting a run answers 409 when the endpoint is busy or serves foreign traffic (then
send `"confirm_foreign": true` to run anyway, marked polluted)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.benches import services
from apps.benches.apis import service_errors
from apps.benches.models import (
    Endpoint,
    LoadMode,
    Run,
    RunState,
    Sample,
    Suite,
    Trigger,
)
from apps.benches.selectors import run_result
from apps.core.api.permissions import api_key_of
from apps.core.api.query import id_param
from apps.core.api.throttles import WRITE_THROTTLES
from apps.projects.models import Project


def _scoped(request: Request, qs: QuerySet) -> QuerySet:
    key = api_key_of(request)
    qs = qs.filter(project__archived=False)
    return qs.filter(project=key.project) if key is not None else qs


# --- serializers ---------------------------------------------------------------------------
class SuiteSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.active(),
                                           required=False,
                                           help_text="Slug; a project key's own by default.")
    endpoint = serializers.PrimaryKeyRelatedField(queryset=Endpoint.objects.all())
    concurrency_levels = serializers.ListField(child=serializers.IntegerField(), required=False)
    request_rates = serializers.ListField(child=serializers.FloatField(), required=False)
    baseline = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Suite
        fields = (
            "id", "project", "endpoint", "name", "model", "mode", "concurrency_levels",
            "request_rates", "arrival", "prompt_set", "prompt_tokens", "max_tokens",
            "requests_per_level", "warmup_requests", "timeout_s", "slo_ttft_ms", "slo_tpot_ms",
            "slo_e2e_ms", "schedule", "schedule_hour", "next_run_at",
            "regression_threshold_pct", "baseline", "created_at", "updated_at",
        )
        read_only_fields = ("next_run_at", "baseline", "created_at", "updated_at")
        validators: list = []  # the name's uniqueness is checked in save(), with a clear message


class RunSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Run
        fields = (
            "id", "project_id", "endpoint_id", "suite_id", "model", "state", "trigger",
            "polluted", "concurrent_foreign_requests", "progress", "baseline_id",
            "regressions", "error", "created_at", "started_at", "finished_at",
        )


LEVEL_SCHEMA = serializers.DictField(help_text=(
    "concurrency (or rate), requests, completed, errors, duration_s, cancelled, ttft_ms, "
    "itl_ms, tpot_ms, e2e_ms (each {mean, p50, p90, p99}), output_tokens, "
    "output_tokens_per_s, requests_per_s, goodput"))


class RunResultSerializer(RunSummarySerializer):
    levels = serializers.SerializerMethodField()

    class Meta(RunSummarySerializer.Meta):
        fields = (*RunSummarySerializer.Meta.fields, "config", "levels")

    @extend_schema_field(serializers.ListField(child=LEVEL_SCHEMA))
    def get_levels(self, run: Run) -> list[dict[str, Any]]:
        return run_result(run)["levels"]


class RunStartSerializer(serializers.Serializer):
    suite = serializers.IntegerField(required=False, help_text="Run this suite's settings.")
    endpoint = serializers.IntegerField(required=False, help_text="Or an ad-hoc run: endpoint…")
    model = serializers.CharField(required=False, allow_blank=True,
                                  help_text="…model (default: the endpoint's)…")
    settings = serializers.DictField(
        required=False, default=dict,
        help_text="…and any suite settings (mode, concurrency_levels, request_rates, arrival, "
                  "prompt_set, prompt_tokens, max_tokens, requests_per_level, warmup_requests, "
                  "timeout_s, slo_*_ms, regression_threshold_pct); suite defaults for the rest.")
    baseline = serializers.IntegerField(required=False, allow_null=True,
                                        help_text="Compare with this finished run.")
    confirm_foreign = serializers.BooleanField(
        default=False, help_text="Run even when the endpoint serves foreign traffic (the "
                                 "result is marked polluted).")


class RunConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=["endpoint_busy", "foreign_traffic"])
    run = serializers.IntegerField(required=False, help_text="The run holding the endpoint.")
    foreign_requests = serializers.IntegerField(required=False)


class BaselineSerializer(serializers.Serializer):
    run = serializers.IntegerField(allow_null=True, help_text="A finished run; null unpins.")


class SampleSerializer(serializers.ModelSerializer):
    level = serializers.IntegerField(source="level.index")
    concurrency = serializers.IntegerField(source="level.concurrency", allow_null=True)
    rate = serializers.FloatField(source="level.rate", allow_null=True)

    class Meta:
        model = Sample
        fields = ("id", "level", "concurrency", "rate", "seq", "started_s", "ttft_ms", "e2e_ms",
                  "output_tokens", "itl_ms", "error")


# --- suites --------------------------------------------------------------------------------
def _suite_from(request: Request, serializer: SuiteSerializer, suite: Suite | None) -> Suite:
    data = dict(serializer.validated_data)
    key = api_key_of(request)
    project = key.project if key is not None else data.pop("project", None)
    data.pop("project", None)
    if suite is None:
        if project is None:
            raise ValidationError({"project": ["Required when not using a project API key."]})
        suite = Suite(project=project)
    endpoint = data.get("endpoint")
    if endpoint is not None and endpoint.project_id != suite.project_id:
        raise ValidationError({"endpoint": ["No such endpoint in this project."]})
    for field, value in data.items():
        setattr(suite, field, value)
    clash = Suite.objects.filter(project_id=suite.project_id, name=suite.name)
    if clash.exclude(pk=suite.pk).exists():
        raise ValidationError({"name": ["A suite of this project already has this name."]})
    try:
        return services.suite_save(suite=suite, actor=request.user, request=request._request)
    except DjangoValidationError as exc:
        raise service_errors(exc) from None


class SuiteListView(ListAPIView):
    serializer_class = SuiteSerializer

    def get_queryset(self) -> QuerySet[Suite]:
        qs = _scoped(self.request, Suite.objects.select_related("project"))
        endpoint = id_param(self.request, "endpoint")
        return qs.filter(endpoint_id=endpoint) if endpoint is not None else qs

    @extend_schema(parameters=[OpenApiParameter("endpoint", int)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=SuiteSerializer, responses={201: SuiteSerializer})
    def post(self, request: Request) -> Response:
        serializer = SuiteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        suite = _suite_from(request, serializer, None)
        return Response(SuiteSerializer(suite).data, status=status.HTTP_201_CREATED)

    throttle_classes = WRITE_THROTTLES


class SuiteDetailView(GenericAPIView):
    serializer_class = SuiteSerializer

    def get_queryset(self) -> QuerySet[Suite]:  # OPTIONS and the schema; the handlers scope too
        return _scoped(self.request, Suite.objects.all())
    throttle_classes = WRITE_THROTTLES

    def _suite(self, request: Request, pk: int) -> Suite:
        return get_object_or_404(_scoped(request, Suite.objects.select_related("endpoint")), pk=pk)

    def get(self, request: Request, pk: int) -> Response:
        return Response(SuiteSerializer(self._suite(request, pk)).data)

    def patch(self, request: Request, pk: int) -> Response:
        suite = self._suite(request, pk)
        serializer = SuiteSerializer(suite, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(SuiteSerializer(_suite_from(request, serializer, suite)).data)

    def put(self, request: Request, pk: int) -> Response:
        suite = self._suite(request, pk)
        serializer = SuiteSerializer(suite, data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(SuiteSerializer(_suite_from(request, serializer, suite)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.suite_delete(suite=self._suite(request, pk), actor=request.user,
                              request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SuiteBaselineView(GenericAPIView):
    serializer_class = BaselineSerializer

    def get_queryset(self) -> QuerySet[Suite]:
        return _scoped(self.request, Suite.objects.all())
    throttle_classes = WRITE_THROTTLES

    @extend_schema(request=BaselineSerializer, responses=SuiteSerializer)
    def post(self, request: Request, pk: int) -> Response:
        suite = get_object_or_404(_scoped(request, Suite.objects.select_related("endpoint")),
                                  pk=pk)
        given = BaselineSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        run = None
        if given.validated_data["run"] is not None:
            run = _scoped(request, Run.objects.all()).filter(
                pk=given.validated_data["run"]).first()
            if run is None:
                raise ValidationError({"run": ["No such run."]})
        try:
            suite = services.baseline_pin(suite=suite, run=run, actor=request.user,
                                          request=request._request)
        except DjangoValidationError as exc:
            raise ValidationError({"run": exc.messages}) from None
        return Response(SuiteSerializer(suite).data)


# --- runs ----------------------------------------------------------------------------------
def _conflict(exc: Exception) -> Response:
    if isinstance(exc, services.ForeignTraffic):
        body = {"detail": f"{exc} Send confirm_foreign: true to run anyway.",
                "code": "foreign_traffic", "foreign_requests": exc.count}
    else:
        assert isinstance(exc, services.EndpointBusy)
        body = {"detail": str(exc), "code": "endpoint_busy", "run": exc.run_id}
    return Response(body, status=status.HTTP_409_CONFLICT)


class RunListView(ListAPIView):
    serializer_class = RunSummarySerializer
    throttle_classes = WRITE_THROTTLES

    def get_queryset(self) -> QuerySet[Run]:
        request = self.request
        qs = _scoped(request, Run.objects.all())
        for name in ("endpoint", "suite"):
            value = id_param(request, name)
            if value is not None:
                qs = qs.filter(**{f"{name}_id": value})
        if request.query_params.get("model"):
            qs = qs.filter(model=request.query_params["model"])
        state = request.query_params.get("state")
        if state is not None:  # given, even empty: one of the states
            if state not in RunState.values:
                raise ValidationError({"state": [f"One of: {', '.join(RunState.values)}."]})
            qs = qs.filter(state=state)
        return qs

    @extend_schema(parameters=[
        OpenApiParameter("endpoint", int), OpenApiParameter("suite", int),
        OpenApiParameter("model", str), OpenApiParameter("state", str, enum=RunState.values),
    ])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Start a run: a suite's, or an ad-hoc one on an endpoint",
        request=RunStartSerializer,
        responses={201: RunSummarySerializer,
                   409: OpenApiResponse(RunConflictSerializer,
                                        description="The endpoint is busy or serves foreign "
                                                    "traffic.")},
    )
    def post(self, request: Request) -> Response:
        given = RunStartSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        baseline = None
        if data.get("baseline") is not None:
            baseline = _scoped(request, Run.objects.filter(state=RunState.FINISHED)).filter(
                pk=data["baseline"]).first()
            if baseline is None:
                raise ValidationError({"baseline": ["No finished run with this id."]})
        trigger = Trigger.API
        try:
            if data.get("suite") is not None:
                suite = _scoped(request, Suite.objects.select_related("endpoint", "baseline")
                                ).filter(pk=data["suite"]).first()
                if suite is None:
                    raise ValidationError({"suite": ["No such suite."]})
                run = services.run_create(
                    endpoint=suite.endpoint, model=suite.effective_model,
                    config=services.suite_config(suite), suite=suite, actor=request.user,
                    trigger=trigger, baseline=baseline or suite.baseline,
                    confirm_foreign=data["confirm_foreign"], request=request._request)
            elif data.get("endpoint") is not None:
                endpoint = _scoped(request, Endpoint.objects.all()).filter(
                    pk=data["endpoint"]).first()
                if endpoint is None:
                    raise ValidationError({"endpoint": ["No such endpoint."]})
                model = data.get("model") or endpoint.default_model
                settings = dict(data["settings"])
                settings.setdefault("mode", LoadMode.CONCURRENCY)
                try:
                    config = services.config_from(model=model or "?", **settings)
                except TypeError:
                    raise ValidationError({"settings": ["Unknown setting."]}) from None
                run = services.run_create(
                    endpoint=endpoint, model=model, config=config, actor=request.user,
                    trigger=trigger, baseline=baseline,
                    confirm_foreign=data["confirm_foreign"], request=request._request)
            else:
                raise ValidationError({"suite": ["Give a suite, or an endpoint for an ad-hoc "
                                                 "run."]})
        except (services.EndpointBusy, services.ForeignTraffic) as exc:
            return _conflict(exc)
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(RunSummarySerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailView(GenericAPIView):
    serializer_class = RunResultSerializer

    def get_queryset(self) -> QuerySet[Run]:
        return _scoped(self.request, Run.objects.all())

    def get(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(_scoped(request, Run.objects.prefetch_related("levels")), pk=pk)
        return Response(RunResultSerializer(run).data)


class RunCancelView(GenericAPIView):
    serializer_class = RunSummarySerializer

    def get_queryset(self) -> QuerySet[Run]:
        return _scoped(self.request, Run.objects.all())
    throttle_classes = WRITE_THROTTLES

    @extend_schema(request=None, responses=RunSummarySerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(_scoped(request, Run.objects.all()), pk=pk)
        if not run.active:
            raise ValidationError({"state": [f"The run is {run.state}; only a queued or running "
                                             "run can be cancelled."]})
        run = services.run_cancel(run=run, actor=request.user, request=request._request)
        return Response(RunSummarySerializer(run).data)


class RunSamplesView(ListAPIView):
    """Raw samples of a run, by level then order of start."""

    serializer_class = SampleSerializer

    def get_queryset(self) -> QuerySet[Sample]:
        run = get_object_or_404(_scoped(self.request, Run.objects.all()), pk=self.kwargs["pk"])
        return Sample.objects.filter(level__run=run).select_related("level")
