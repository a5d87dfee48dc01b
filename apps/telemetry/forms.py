"""Forms are adapters: they parse and validate input; services do the writes."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.projects.models import Project
from apps.telemetry.models import REPORT_CHANNELS, DigestCadence


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
