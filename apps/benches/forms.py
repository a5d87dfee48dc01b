"""Forms are adapters: they parse and validate input; apps/benches/endpoints.py does the writes."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from apps.benches import endpoints as svc
from apps.benches.models import Endpoint, EndpointKind, ProbeKind
from apps.projects.models import Project


class EndpointForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.none(), empty_label=None)
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "gpu1-vllm"}))
    kind = forms.ChoiceField(choices=EndpointKind.choices, label="API")
    base_url = forms.CharField(
        max_length=500, label="Base URL",
        widget=forms.TextInput(attrs={"placeholder": "http://gpu1:8000/v1", "inputmode": "url"}),
        help_text="With or without /v1; stored without it.",
    )
    api_key = forms.CharField(
        required=False, label="API key", widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; never shown again.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")
    default_model = forms.CharField(
        max_length=200, required=False,
        widget=forms.TextInput(attrs={"list": "endpoint-models", "autocomplete": "off"}),
    )
    headers = forms.CharField(
        required=False, label="Extra headers",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"X-Team": "ml"}',
                                     "class": "mono", "spellcheck": "false"}),
        help_text="A JSON object of header name → value, sent with every request.",
    )
    probe = forms.ChoiceField(choices=ProbeKind.choices, label="Liveness probe")
    metrics_path = forms.CharField(
        max_length=200, required=False, label="Metrics path",
        help_text="Prometheus metrics (vLLM, SGLang, llama.cpp) for foreign traffic; empty to skip.",
    )
    enabled = forms.BooleanField(required=False, label="Enabled (probed and schedulable)")

    def __init__(self, *args: Any, endpoint: Endpoint | None = None, **kwargs: Any) -> None:
        self.endpoint = endpoint
        if endpoint is not None:
            kwargs.setdefault("initial", {}).update({
                "project": endpoint.project_id, "name": endpoint.name, "kind": endpoint.kind,
                "base_url": endpoint.base_url, "default_model": endpoint.default_model,
                "headers": json.dumps(endpoint.headers, indent=1) if endpoint.headers else "",
                "probe": endpoint.probe, "metrics_path": endpoint.metrics_path,
                "enabled": endpoint.enabled,
            })
        else:
            kwargs.setdefault("initial", {}).setdefault("metrics_path", "/metrics")
            kwargs["initial"].setdefault("enabled", True)
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.active()
        if endpoint is not None:
            self.fields["project"].disabled = True
            self.fields["project"].queryset = Project.objects.filter(pk=endpoint.project_id)
            hint = endpoint.api_key_hint
            self.fields["api_key"].help_text = (
                f"A key ending {hint} is stored; leave empty to keep it." if hint
                else "No key stored; leave empty for none.")
        else:
            del self.fields["clear_api_key"]

    def clean_base_url(self) -> str:
        try:
            return svc.base_url_normalise(self.cleaned_data["base_url"])
        except forms.ValidationError as err:
            raise forms.ValidationError(err.message_dict["base_url"]) from None

    def clean_headers(self) -> dict[str, str]:
        raw = (self.cleaned_data.get("headers") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as err:
            raise forms.ValidationError(f"Not valid JSON ({err.msg}, line {err.lineno}).") from None
        try:
            return svc.headers_clean(value)
        except forms.ValidationError as err:
            raise forms.ValidationError(err.message_dict["headers"]) from None

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {f: data[f] for f in svc.UPDATABLE if f in data}

    def apply_errors(self, err: forms.ValidationError) -> None:
        """A service's ValidationError onto the form's fields."""
        if hasattr(err, "error_dict"):
            for field, errors in err.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, err)
