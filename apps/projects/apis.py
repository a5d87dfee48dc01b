"""Project endpoints under /api/v1/. A key sees only its own project; another project is a 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core import roles
from apps.core.api.pagination import IdCursorPagination
from apps.core.api.permissions import api_key_of
from apps.projects import services
from apps.projects.models import Project


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "archived",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "slug", "archived", "version", "created_at", "updated_at"]


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=False)
    description = serializers.CharField(required=False, allow_blank=True)


class ProjectPagination(IdCursorPagination):
    ordering = "slug"


def visible_projects(request: Request) -> QuerySet[Project]:
    """A key sees its own project; a team member sees every project."""
    key = api_key_of(request)
    if key is not None:
        return Project.objects.filter(pk=key.project_id)
    return Project.objects.all()


WHOAMI = inline_serializer(
    "WhoAmI",
    {
        "kind": serializers.ChoiceField(choices=["api_key", "session"]),
        "project": ProjectSerializer(required=False),
        "key": inline_serializer(
            "WhoAmIKey",
            {
                "prefix": serializers.CharField(),
                "name": serializers.CharField(),
                "scope": serializers.ChoiceField(choices=["read", "write"]),
                "created_at": serializers.DateTimeField(),
            },
            required=False,
        ),
        "scope": serializers.ChoiceField(choices=["read", "write"]),
        "user": serializers.CharField(required=False),
        "role": serializers.CharField(required=False),
    },
)


@extend_schema(
    summary="Who am I?",
    description="The project and scope of the API key in use (or the signed-in user and role). "
    "Call it to check a client's configuration.",
    responses={200: WHOAMI},
    tags=["projects"],
)
@api_view(["GET"])
def whoami(request: Request) -> Response:
    key = api_key_of(request)
    if key is not None:
        return Response(
            {
                "kind": "api_key",
                "project": ProjectSerializer(key.project).data,
                "key": {
                    "prefix": key.prefix,
                    "name": key.name,
                    "scope": key.scope,
                    "created_at": key.created_at,
                },
                "scope": key.scope,
            }
        )
    return Response(
        {
            "kind": "session",
            "user": request.user.get_username(),
            "role": roles.role_of(request.user),
            "scope": "write" if roles.is_admin(request.user) else "read",
        }
    )


@extend_schema(
    tags=["projects"],
    summary="List projects",
    description="Every project for a signed-in team member; a key sees only its own.",
)
class ProjectListApi(ListAPIView):
    serializer_class = ProjectSerializer
    pagination_class = ProjectPagination

    def get_queryset(self) -> QuerySet[Project]:
        qs = visible_projects(self.request)
        if self.request.query_params.get("archived") not in ("1", "true"):
            qs = qs.filter(archived=False)
        return qs


@extend_schema(
    tags=["projects"], methods=["GET"], responses=ProjectSerializer, summary="One project"
)
@extend_schema(
    tags=["projects"],
    methods=["PATCH"],
    request=ProjectUpdateSerializer,
    responses=ProjectSerializer,
    summary="Rename or re-describe a project",
)
@api_view(["GET", "PATCH"])
def project_detail(request: Request, slug: str) -> Response:
    project = visible_projects(request).filter(slug=slug).first()
    if project is None:
        raise Http404
    if request.method == "PATCH":
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        body = ProjectUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = api_key_of(request)
        project = services.project_update(
            project=project,
            actor=None if key else request.user,
            actor_label=f"api key {key.prefix}" if key else "",
            request=request,
            **body.validated_data,
        )
    return Response(ProjectSerializer(project).data)
