"""The suite form: parses what people type; services.suite_save validates and saves."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.benches.models import Endpoint, LoadMode, Suite
from apps.benches.services import parse_levels

FIELDS = (
    "name", "endpoint", "model", "mode", "arrival", "prompt_set", "prompt_tokens", "max_tokens",
    "requests_per_level", "warmup_requests", "timeout_s", "slo_ttft_ms", "slo_tpot_ms",
    "slo_e2e_ms", "schedule", "schedule_hour", "regression_threshold_pct",
)


class EndpointChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Endpoint) -> str:
        return obj.name if self.single_project else f"{obj.project.name} / {obj.name}"

    single_project = True


class SuiteForm(forms.ModelForm):
    levels = forms.CharField(
        label="Levels", max_length=300,
        help_text="Concurrency levels (1, 2, 4, 8) or request rates in req/s (0.5, 1, 2).",
    )

    class Meta:
        model = Suite
        fields = FIELDS
        field_classes = {"endpoint": EndpointChoice}
        labels = {
            "requests_per_level": "Requests per level", "warmup_requests": "Warm-up requests",
            "timeout_s": "Timeout (s)", "slo_ttft_ms": "SLO: TTFT (ms)",
            "slo_tpot_ms": "SLO: TPOT (ms)", "slo_e2e_ms": "SLO: E2E (ms)",
            "schedule_hour": "At (UTC hour)", "regression_threshold_pct": "Regression threshold (%)",
            "prompt_tokens": "Prompt tokens", "max_tokens": "Max output tokens",
        }
        help_texts = {
            "model": "Empty: the endpoint's default model.",
            "regression_threshold_pct": "A level worse than the baseline by more than this is flagged.",
        }

    def __init__(self, *args: Any, endpoints: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["endpoint"]
        field.queryset = endpoints
        field.single_project = len({e.project_id for e in endpoints}) <= 1
        field.empty_label = None
        if self.instance.pk and not self.is_bound:
            values = (self.instance.request_rates if self.instance.mode == LoadMode.RATE
                      else self.instance.concurrency_levels)
            self.initial["levels"] = ", ".join(
                f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        elif not self.is_bound:
            self.initial.setdefault("levels", "1, 2, 4, 8")
        self.fields["model"].widget.attrs["list"] = "suite-models"
        self.fields["levels"].widget.attrs["placeholder"] = "1, 2, 4, 8"
        for name in ("slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms"):
            self.fields[name].widget.attrs["placeholder"] = "none"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        text = data.get("levels")
        if text is not None:
            rate = data.get("mode") == LoadMode.RATE
            try:
                values = parse_levels(text, kind=float if rate else int)
            except ValidationError:
                self.add_error("levels", "Numbers separated by commas or spaces, e.g. 1, 2, 4, 8.")
            else:
                self.instance.concurrency_levels = [] if rate else values
                self.instance.request_rates = values if rate else []
        return data

    def _post_clean(self) -> None:
        # Copy the fields onto the instance without Django's model validation: suite_save
        # runs suite_validate and full_clean, and its errors come back through apply_errors.
        opts = self._meta
        try:
            self.instance = forms.models.construct_instance(self, self.instance, opts.fields,
                                                            opts.exclude)
        except ValidationError as exc:
            self._update_errors(exc)

    def apply_errors(self, exc: ValidationError) -> None:
        """Errors from suite_save on the fields they name (levels for the level lists)."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for name, errors in exc.error_dict.items():
            target = "levels" if name in ("concurrency_levels", "request_rates") else name
            if target not in self.fields:
                target = None
            for error in errors:
                self.add_error(target, error)
