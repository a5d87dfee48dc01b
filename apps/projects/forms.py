from __future__ import annotations

from typing import Any

from django import forms

from apps.projects.models import ApiKeyScope, Project
from apps.projects.services import RESERVED_SLUGS, slug_suggest


class ProjectForm(forms.ModelForm):
    """Name, slug and description. An empty slug is derived from the name."""

    class Meta:
        model = Project
        fields = ["name", "slug", "description"]
        help_texts = {
            "slug": "Lower-case letters, digits and hyphens; used in links and ?project= filters. "
            "Leave empty to derive it from the name.",
        }
        widgets = {
            "name": forms.TextInput(attrs={"autofocus": True, "placeholder": "Apollo"}),
            "slug": forms.TextInput(attrs={"placeholder": "apollo", "data-slug-from": "id_name"}),
            "description": forms.Textarea(
                attrs={"rows": 3, "placeholder": "What the agents in this project work on"}
            ),
        }
        error_messages = {
            "slug": {"unique": "Another project already uses this slug. Pick a different one."},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Derived from the name when creating; an existing project always keeps one.
        self.fields["slug"].required = bool(self.instance.pk)
        if self.instance.pk:
            self.fields["slug"].help_text = "Lower-case letters, digits and hyphens."
        self.fields["name"].widget.attrs["maxlength"] = 100

    def clean_slug(self) -> str:
        slug = (self.cleaned_data.get("slug") or "").strip().lower()
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(f"“{slug}” is reserved. Pick a different slug.")
        return slug

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("slug") and data.get("name") and not self.instance.pk:
            data["slug"] = slug_suggest(data["name"])
        return data


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Label",
        max_length=100,
        help_text="Where the key is used, e.g. “CI runner” or “Olivia's laptop”.",
        widget=forms.TextInput(attrs={"placeholder": "CI runner"}),
    )
    scope = forms.ChoiceField(
        choices=ApiKeyScope.choices,
        initial=ApiKeyScope.WRITE,
        widget=forms.RadioSelect,
        help_text="Agents need read and write to report. Read-only suits dashboards and scripts.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a label.")
        return name
