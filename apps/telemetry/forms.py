"""Forms are adapters: they parse and validate input; services do the writes. Here: a
person's digest, and the retention windows an owner sets on the System page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from apps.projects.models import Project
from apps.telemetry.models import REPORT_CHANNELS, RETENTION_KINDS, DigestCadence, RetentionPolicy
from config.env import MAX_RETENTION_DAYS

# Coarser rollups are kept at least as long as finer ones: a chart over a range falls back
# from 5-minute to hourly to daily buckets as the range grows.
ROLLUP_ORDER = ("rollups_5m", "rollups_1h", "rollups_1d")
SETTINGS = {kind.key: kind.setting for kind in RETENTION_KINDS}


def _days(value: int) -> str:
    return "forever" if not value else f"{value} days"


class RetentionForm(forms.Form):
    """Days kept per kind: empty means the server's setting, 0 keeps rows forever."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind in RETENTION_KINDS:
            default = getattr(settings, kind.setting)
            self.fields[kind.key] = forms.IntegerField(
                label=kind.label, required=False, min_value=0, max_value=MAX_RETENTION_DAYS,
                help_text=kind.about,
                widget=forms.NumberInput(attrs={
                    "placeholder": f"{default or 'forever'} (default)", "inputmode": "numeric",
                    "aria-label": f"{kind.label}: days kept",
                }),
            )

    @staticmethod
    def initial_from(policy: RetentionPolicy | None) -> dict[str, int | None]:
        if policy is None:
            return {}
        return {kind.key: getattr(policy, RetentionPolicy.field_name(kind.key))
                for kind in RETENTION_KINDS}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        forever = MAX_RETENTION_DAYS + 1

        def kept(key: str) -> int | None:
            if key in self.errors:
                return None
            value = data.get(key)
            value = getattr(settings, SETTINGS[key]) if value is None else value
            return value or forever

        for finer, coarser in zip(ROLLUP_ORDER, ROLLUP_ORDER[1:], strict=False):
            short, long = kept(finer), kept(coarser)
            if short is not None and long is not None and long < short:
                self.add_error(coarser, (
                    f"Keep {self.fields[coarser].label.lower()} at least as long as "
                    f"{self.fields[finer].label.lower()} ({_days(0 if short == forever else short)})."
                ))
        return data

    def values(self) -> dict[str, int | None]:
        return {kind.key: self.cleaned_data.get(kind.key) for kind in RETENTION_KINDS}


class DigestForm(forms.Form):
    cadence = forms.ChoiceField(
        choices=DigestCadence.choices, label="Send me a digest",
        help_text="Daily: the previous day. Weekly: Monday to Sunday, on Monday morning.",
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="All projects",
        label="Of",
    )
    channels = forms.MultipleChoiceField(
        choices=REPORT_CHANNELS, widget=forms.CheckboxSelectMultiple, required=False,
        label="By",
        help_text="Email goes to your address on My notifications. Slack posts to the team's "
                  "Slack channels, once per report however many people ask for it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.active()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("cadence") not in (None, DigestCadence.OFF) and not data.get("channels"):
            self.add_error("channels", "Choose email, Slack or both.")
        return data
