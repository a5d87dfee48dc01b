"""Owners' view of the endpoint registry. Saves and deletes go through apps/benches/endpoints.py
(audit, normalised URL, encrypted key, live pages); the key is write-only here too."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.benches import endpoints as svc
from apps.benches.models import Endpoint, Run, Suite
from apps.core.admin import OwnerAdmin

LIVENESS = ("state", "state_changed_at", "last_probe_at", "last_seen_at", "last_latency_ms",
            "last_error", "consecutive_failures", "models_list", "models_fetched_at",
            "api_key_hint", "lease_run", "lease_until", "version", "created_by", "created_at")


class EndpointAdminForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False, label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown; leave empty to keep the stored key.")
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")
    # Not the model's URLField: its validator refuses bare host names such as gpu1:8000.
    base_url = forms.CharField(max_length=500, label="Base URL",
                               help_text="With or without /v1; stored without it.")

    class Meta:
        model = Endpoint
        fields = ("project", "name", "kind", "default_model", "headers", "probe",
                  "metrics_path", "enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["base_url"].initial = self.instance.base_url

    def _get_validation_exclusions(self) -> set[str]:
        return {*super()._get_validation_exclusions(), "base_url"}  # checked by clean_base_url

    def clean_base_url(self) -> str:
        try:
            return svc.base_url_normalise(self.cleaned_data.get("base_url", ""))
        except ValidationError as err:
            raise ValidationError(err.message_dict["base_url"]) from None

    def clean_headers(self) -> dict[str, str]:
        try:
            return svc.headers_clean(self.cleaned_data.get("headers"))
        except ValidationError as err:
            raise ValidationError(err.message_dict["headers"]) from None


@admin.register(Endpoint)
class EndpointAdmin(OwnerAdmin):
    form = EndpointAdminForm
    list_display = ("name", "project", "kind", "state", "last_seen_at", "last_latency_ms", "enabled")
    list_filter = ("state", "kind", "enabled", "project")
    search_fields = ("name", "base_url", "default_model")
    list_select_related = ("project",)
    readonly_fields = LIVENESS
    fields = ("project", "name", "kind", "base_url", "api_key", "clear_api_key", "default_model",
              "headers", "probe", "metrics_path", "enabled", *LIVENESS)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return LIVENESS + (("project",) if obj is not None else ())

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        data = form.cleaned_data
        changes = {f: data[f] for f in svc.UPDATABLE if f in data}
        if change:
            original = Endpoint.objects.get(pk=obj.pk)  # obj already carries the form's values
            updated = svc.endpoint_update(
                endpoint=original, changes=changes, api_key=data.get("api_key") or None,
                clear_api_key=bool(data.get("clear_api_key")), actor=request.user, request=request)
        else:
            updated = svc.endpoint_create(project=data["project"], api_key=data.get("api_key", ""),
                                          actor=request.user, request=request, **changes)
        obj.pk = updated.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Endpoint) -> None:
        svc.endpoint_delete(endpoint=obj, actor=request.user, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        for endpoint in queryset:
            svc.endpoint_delete(endpoint=endpoint, actor=request.user, request=request)


@admin.register(Run)
class RunAdmin(OwnerAdmin):
    """Runs are results: read here, started from the pages, the API or `manage.py bench`.
    The one action, cancel, goes through the service like the page's button."""

    list_display = ("id", "project", "endpoint", "model", "state", "trigger", "polluted",
                    "created_at", "finished_at")
    list_filter = ("state", "trigger", "polluted", "project")
    search_fields = ("model", "endpoint__name")
    list_select_related = ("project", "endpoint")
    actions = ("cancel_runs",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Cancel the selected queued or running runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        from apps.benches.services import run_cancel

        active = [run for run in queryset if run.active]
        for run in active:
            run_cancel(run=run, actor=request.user, request=request)
        self.message_user(request, f"Asked {len(active)} run(s) to stop.")


@admin.register(Suite)
class SuiteAdmin(OwnerAdmin):
    """Suites are edited on the Benches pages (validated there); here they are read and
    deleted, the deletion audited like the page's."""

    list_display = ("name", "project", "endpoint", "model", "mode", "schedule", "next_run_at")
    list_filter = ("mode", "schedule", "project")
    search_fields = ("name", "model")
    list_select_related = ("project", "endpoint")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Suite) -> None:
        from apps.benches.services import suite_delete

        suite_delete(suite=obj, actor=request.user, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Suite]) -> None:
        for suite in queryset:
            self.delete_model(request, suite)
