"""Owners' admin for projects and API keys. Keys never show their hash and cannot be added here,
because the raw secret would have nowhere safe to appear; use the keys page or `apikey create`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from apps.core.admin import OwnerAdmin
from apps.projects import services
from apps.projects.models import ApiKey, Project


@admin.register(Project)
class ProjectAdmin(OwnerAdmin):
    list_display = ("name", "slug", "archived", "active_keys", "created_at", "updated_at")
    list_filter = ("archived",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("archived", "version", "created_at", "updated_at")
    fields = ("name", "slug", "description", "archived", "version", "created_at", "updated_at")
    actions = ["archive", "unarchive"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return (
            super()
            .get_queryset(request)
            .annotate(_active_keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)))
        )

    @admin.display(description="active keys", ordering="_active_keys")
    def active_keys(self, obj: Project) -> int:
        return obj._active_keys  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        if change:
            services.project_update(
                project=Project.objects.get(pk=obj.pk),
                actor=request.user,
                request=request,
                **{f: form.cleaned_data[f] for f in ("name", "slug", "description")},
            )
        else:
            created = services.project_create(
                name=obj.name,
                slug=obj.slug,
                description=obj.description,
                actor=request.user,
                request=request,
            )
            obj.pk = created.pk

    def _set_archived(
        self, request: HttpRequest, queryset: QuerySet[Project], archived: bool
    ) -> int:
        return sum(
            services.project_set_archived(
                project=project, archived=archived, actor=request.user, request=request
            )
            for project in queryset
        )

    @admin.action(description="Archive selected projects (their API keys stop working)")
    def archive(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        n = self._set_archived(request, queryset, True)
        self.message_user(request, f"Archived {n} project(s).", messages.SUCCESS)

    @admin.action(description="Unarchive selected projects")
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        n = self._set_archived(request, queryset, False)
        self.message_user(request, f"Unarchived {n} project(s).", messages.SUCCESS)


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(OwnerAdmin):
    list_display = (
        "prefix_display",
        "name",
        "project",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "state",
    )
    list_filter = (KeyStateFilter, "scope", "project")
    search_fields = ("name", "prefix", "project__name", "project__slug")
    list_select_related = ("project", "created_by")
    # The hash is left out entirely: it is not a secret one can use, but there is no reason to
    # show it and every reason not to invite copying it around.
    fields = (
        "project",
        "name",
        "prefix",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = (
        "project",
        "prefix",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoke instead, so the audit trail keeps pointing at a real row.
        return False

    @admin.display(description="key", ordering="prefix")
    def prefix_display(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="state", ordering="revoked_at")
    def state(self, obj: ApiKey) -> str:
        return "active" if obj.is_active else f"revoked {obj.revoked_at:%Y-%m-%d %H:%M}"

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        n = sum(
            services.api_key_revoke(key=key, actor=request.user, request=request)
            for key in queryset.select_related("project")
        )
        self.message_user(request, f"Revoked {n} key(s).", messages.SUCCESS)
