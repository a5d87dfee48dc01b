"""Forms are adapters: they parse and validate input; services do the writes."""

from __future__ import annotations

import re

from django import forms

from apps.alerts.models import (
    WATCH_PRESETS,
    AlertPolicy,
    AlertRule,
    Channel,
    Severity,
    TeamChannel,
)

KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def agent_kind_choices() -> list[tuple[str, str]]:
    from apps.agents.kinds import kind_choices

    return [("", "Any kind of agent"), *kind_choices()]


class AlertRuleForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        choices=Channel.choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="The inbox always gets every alert.",
    )

    class Meta:
        model = AlertRule
        fields = [
            "name", "enabled", "project", "event_kind", "agent_kind", "threshold",
            "window_minutes", "severity", "channels", "action_interval_minutes",
            "respect_sleep_windows", "respect_quiet_hours",
        ]
        labels = {
            "event_kind": "Watched event",
            "project": "Scope",
            "threshold": "Events needed",
            "window_minutes": "Within (minutes)",
            "action_interval_minutes": "Notify an agent at most every (minutes)",
            "respect_sleep_windows": "Hold back during the agent's sleep window",
            "respect_quiet_hours": "Hold back during the team's quiet hours",
        }
        widgets = {"event_kind": forms.TextInput(attrs={"list": "event-kinds", "autocomplete": "off"})}

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["project"].empty_label = "All projects"
        self.fields["project"].queryset = self.fields["project"].queryset.filter(archived=False)
        self.fields["agent_kind"] = forms.ChoiceField(
            choices=agent_kind_choices(), required=False, label="Agent kind"
        )
        self.fields["threshold"].widget.attrs.update(min=1, max=1000)
        self.fields["window_minutes"].widget.attrs.update(min=1, max=10080)
        self.fields["action_interval_minutes"].widget.attrs.update(min=0, max=10080)
        self.presets = WATCH_PRESETS

    def clean_event_kind(self) -> str:
        kind = self.cleaned_data["event_kind"].strip().lower()
        if not KIND_RE.match(kind):
            raise forms.ValidationError("Use a dotted event kind such as agent.blocked.")
        from apps.alerts import kinds

        kinds.validate(kind)
        return kind

    def clean_threshold(self) -> int:
        value = self.cleaned_data["threshold"]
        if not 1 <= value <= 1000:
            raise forms.ValidationError("Between 1 and 1000.")
        return value

    def clean_window_minutes(self) -> int:
        value = self.cleaned_data["window_minutes"]
        if not 1 <= value <= 10080:
            raise forms.ValidationError("Between 1 minute and 7 days.")
        return value


class PolicyForm(forms.ModelForm):
    class Meta:
        model = AlertPolicy
        fields = ["quiet_hours_enabled", "quiet_start", "quiet_end", "timezone"]
        labels = {"quiet_hours_enabled": "Quiet hours", "quiet_start": "From", "quiet_end": "Until"}
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def clean_timezone(self) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        value = self.cleaned_data["timezone"].strip() or "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"{value!r} is not a known time zone.") from None
        return value

    def clean(self) -> dict:
        data = super().clean()
        if data.get("quiet_hours_enabled") and not (data.get("quiet_start") and data.get("quiet_end")):
            raise forms.ValidationError("Quiet hours need a start and an end.")
        return data


class TeamChannelForm(forms.ModelForm):
    class Meta:
        model = TeamChannel
        fields = ["kind", "name", "url", "min_severity"]
        labels = {"url": "URL", "min_severity": "Minimum severity"}
        widgets = {"url": forms.URLInput(attrs={"placeholder": "https://hooks.slack.com/services/…"})}

    def clean_url(self) -> str:
        from apps.alerts.targets import check_target

        url = self.cleaned_data["url"].strip()
        check_target(url)
        return url


class PersonalForm(forms.Form):
    email_enabled = forms.BooleanField(required=False, label="Email me")
    email = forms.EmailField(required=False, label="Address",
                             help_text="Empty: the address on your account.")
    push_enabled = forms.BooleanField(required=False, label="Push to my subscribed browsers")
    severities = forms.MultipleChoiceField(
        choices=Severity.choices, widget=forms.CheckboxSelectMultiple, required=False,
        label="Severities",
    )
