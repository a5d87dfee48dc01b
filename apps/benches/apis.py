"""The endpoint API under /api/v1/benches/endpoints. Thin adapters: scope to the key's project,
call a service, render. A project key sees and writes only its project (another project's
endpoint is a 404; a read-only key cannot write); a browser session: members read, admins write
(apps.core.api.permissions.IsProjectMember, the default)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.benches import endpoints as svc
from apps.benches.models import Endpoint, EndpointState
from apps.benches.probe import endpoint_probe
from apps.benches.serializers import EndpointSerializer, EndpointWriteSerializer, ModelsSerializer
from apps.core.api.permissions import api_key_of
from apps.core.api.throttles import WRITE_THROTTLES
from apps.projects.models import Project

ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Endpoint id")


class Unreachable(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The endpoint did not answer."
    default_code = "endpoint_unreachable"


def _endpoints(request: Request) -> QuerySet[Endpoint]:
    qs = Endpoint.objects.select_related("project").order_by("id")
    key = api_key_of(request)
    return qs.filter(project=key.project) if key is not None else qs


def _get(request: Request, pk: int) -> Endpoint:
    return get_object_or_404(_endpoints(request), pk=pk)


def _project_for_write(request: Request, slug: str | None) -> Project:
    key = api_key_of(request)
    if key is not None:
        return key.project
    if not slug:
        raise ValidationError({"project": ["Required when not using a project API key."]})
    return get_object_or_404(Project.objects.active(), slug=slug)


def service_errors(err: DjangoValidationError) -> ValidationError:
    """A service's ValidationError as DRF's 400, by field where it names fields."""
    if hasattr(err, "error_dict"):
        return ValidationError(err.message_dict)
    return ValidationError({"non_field_errors": err.messages})


def _actor(request: Request) -> Any:
    return None if api_key_of(request) is not None else request.user


class EndpointListView(GenericAPIView):
    serializer_class = EndpointSerializer
    throttle_classes = WRITE_THROTTLES

    @extend_schema(summary="List model endpoints",
                   parameters=[OpenApiParameter("project", str, description="Project slug"),
                               OpenApiParameter("state", str, enum=EndpointState.values)],
                   responses=EndpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = _endpoints(request)
        if request.query_params.get("project"):
            qs = qs.filter(project__slug=request.query_params["project"])
        state = request.query_params.get("state")
        if state is not None:  # given, even empty: one of the states
            if state not in EndpointState.values:
                raise ValidationError({"state": [f"One of: {', '.join(EndpointState.values)}."]})
            qs = qs.filter(state=state)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(summary="Add a model endpoint", request=EndpointWriteSerializer,
                   responses={201: EndpointSerializer})
    def post(self, request: Request) -> Response:
        ser = EndpointWriteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        project = _project_for_write(request, data.pop("project", None))
        data.pop("clear_api_key", None)
        try:
            endpoint = svc.endpoint_create(project=project, actor=_actor(request),
                                           request=request._request, **data)
        except DjangoValidationError as err:
            raise service_errors(err) from None
        return Response(EndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(GenericAPIView):
    serializer_class = EndpointSerializer
    throttle_classes = WRITE_THROTTLES

    def get_queryset(self) -> QuerySet[Endpoint]:  # OPTIONS and the schema; handlers scope too
        return _endpoints(self.request)

    @extend_schema(summary="One model endpoint", parameters=[ID])
    def get(self, request: Request, pk: int) -> Response:
        return Response(EndpointSerializer(_get(request, pk)).data)

    def _change(self, request: Request, pk: int, *, partial: bool) -> Response:
        endpoint = _get(request, pk)
        ser = EndpointWriteSerializer(data=request.data, partial=partial)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        if "project" in data and data.pop("project") != endpoint.project.slug:
            raise ValidationError({"project": ["An endpoint cannot move to another project."]})
        api_key = data.pop("api_key", None)
        clear = data.pop("clear_api_key", False)
        try:
            endpoint = svc.endpoint_update(endpoint=endpoint, changes=data, api_key=api_key,
                                           clear_api_key=clear, actor=_actor(request),
                                           request=request._request)
        except DjangoValidationError as err:
            raise service_errors(err) from None
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(summary="Replace a model endpoint's settings", parameters=[ID],
                   request=EndpointWriteSerializer, responses=EndpointSerializer)
    def put(self, request: Request, pk: int) -> Response:
        return self._change(request, pk, partial=False)

    @extend_schema(summary="Change some of a model endpoint's settings", parameters=[ID],
                   request=EndpointWriteSerializer, responses=EndpointSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        return self._change(request, pk, partial=True)

    @extend_schema(summary="Delete a model endpoint (with its suites and runs)", parameters=[ID],
                   responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        svc.endpoint_delete(endpoint=_get(request, pk), actor=_actor(request),
                            request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointProbeView(GenericAPIView):
    serializer_class = EndpointSerializer
    throttle_classes = WRITE_THROTTLES

    def get_queryset(self) -> QuerySet[Endpoint]:  # OPTIONS and the schema; handlers scope too
        return _endpoints(self.request)

    @extend_schema(summary="Probe a model endpoint now", parameters=[ID], request=None,
                   responses=EndpointSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return Response(EndpointSerializer(endpoint_probe(endpoint=_get(request, pk))).data)


class EndpointModelsView(GenericAPIView):
    serializer_class = ModelsSerializer
    throttle_classes = WRITE_THROTTLES

    def get_queryset(self) -> QuerySet[Endpoint]:  # OPTIONS and the schema; handlers scope too
        return _endpoints(self.request)

    @extend_schema(summary="The models the endpoint listed last", parameters=[ID],
                   responses=ModelsSerializer)
    def get(self, request: Request, pk: int) -> Response:
        endpoint = _get(request, pk)
        return Response({"models": endpoint.models_list, "fetched_at": endpoint.models_fetched_at})

    @extend_schema(summary="List the endpoint's models again (GET /v1/models on the server)",
                   parameters=[ID], request=None,
                   responses={200: ModelsSerializer,
                              502: OpenApiResponse(description="The endpoint did not answer.")})
    def post(self, request: Request, pk: int) -> Response:
        endpoint = _get(request, pk)
        try:
            names = svc.endpoint_models_refresh(endpoint=endpoint)
        except svc.EndpointUnreachable as err:
            raise Unreachable(f"Could not list the models: {err}") from None
        return Response({"models": names, "fetched_at": endpoint.models_fetched_at})
