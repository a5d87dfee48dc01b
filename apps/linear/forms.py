from __future__ import annotations

from typing import Any

from django import forms
from django.forms import inlineformset_factory

from apps.linear.models import (
    LinearLabel,
    LinearProject,
    LinearTeam,
    LinearWorkflowState,
    RoutingRule,
    RoutingTarget,
)


class ApiKeyForm(forms.Form):
    api_key = forms.CharField(
        label="Linear API key",
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "lin_api_…"}),
        help_text="Linear → Settings → Security & access → Personal API keys. Stored encrypted; "
        "it is never shown again.",
    )


class MappingForm(forms.Form):
    team = forms.ModelChoiceField(
        queryset=LinearTeam.objects.filter(archived_at__isnull=True),
        required=False,
        empty_label="— not mapped —",
    )
    linear_project = forms.ModelChoiceField(
        queryset=LinearProject.objects.filter(archived_at__isnull=True),
        required=False,
        empty_label="All of the team's issues",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        team, lp = data.get("team"), data.get("linear_project")
        if lp is not None and team is None:
            raise forms.ValidationError("Choose the team first.")
        if lp is not None and team is not None and not lp.teams.filter(pk=team.pk).exists():
            raise forms.ValidationError(f"{lp} is not a project of {team}.")
        return data


PRIORITY_CHOICES = [
    ("", "Any priority"),
    (1, "Urgent"),
    (2, "High"),
    (3, "Medium"),
    (4, "Low"),
    (0, "No priority"),
]


class RoutingRuleForm(forms.ModelForm):
    priority = forms.TypedChoiceField(
        choices=PRIORITY_CHOICES, coerce=int, empty_value=None, required=False
    )

    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "enabled",
            "order",
            "team",
            "linear_project",
            "label",
            "priority",
            "complete_state",
            "comment_on_complete",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = LinearTeam.objects.filter(archived_at__isnull=True)
        self.fields["team"].empty_label = "Any team"
        self.fields["linear_project"].queryset = LinearProject.objects.filter(
            archived_at__isnull=True
        )
        self.fields["linear_project"].empty_label = "Any project"
        self.fields["label"].queryset = LinearLabel.objects.filter(archived_at__isnull=True)
        self.fields["label"].empty_label = "Any label"
        self.fields["complete_state"].queryset = LinearWorkflowState.objects.filter(
            archived_at__isnull=True
        ).select_related("team")
        self.fields["complete_state"].empty_label = "Leave the state alone"
        self.fields["complete_state"].label_from_instance = lambda s: f"{s.team.key} · {s.name}"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        state, team = data.get("complete_state"), data.get("team")
        if state is not None and team is not None and state.team_id != team.pk:
            self.add_error("complete_state", "Choose a state of the rule's team.")
        return data


class TargetForm(forms.ModelForm):
    class Meta:
        model = RoutingTarget
        fields = ["agent", "capacity"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from apps.agents.models import Agent

        self.fields["agent"].queryset = Agent.objects.select_related("project").order_by(
            "project__name", "name"
        )
        self.fields["agent"].label_from_instance = lambda a: f"{a.project.name} · {a.name}"
        self.fields["agent"].empty_label = "Choose an agent…"
        self.fields["capacity"].widget.attrs.update({"min": 1, "max": 50})

    def clean_capacity(self) -> int:
        value = self.cleaned_data["capacity"]
        if not 1 <= value <= 50:
            raise forms.ValidationError("Between 1 and 50 open tasks.")
        return value


TargetFormSet = inlineformset_factory(
    RoutingRule,
    RoutingTarget,
    form=TargetForm,
    extra=3,
    can_delete=True,
    min_num=1,
    validate_min=True,
)
