from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator

from apps.core import roles
from apps.core.roles import Role


def grantable_roles(actor: Any) -> list[tuple[str, str]]:
    """The roles `actor` may hand out, lowest first (so the default is the least power)."""
    return [(r.value, r.label) for r in reversed(Role) if roles.can_grant(actor, r.value)]


class ClaimForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
        help_text="Letters, digits and @ . + - _ only.",
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not a common password.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1 and data.get("username"):
            from apps.accounts.models import User

            try:
                password_validation.validate_password(p1, User(username=data["username"]))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class JoinForm(ClaimForm):
    """Accepting an invite without GitHub: the claim page's fields, and a free username."""

    def clean_username(self) -> str:
        from apps.accounts.services import username_is_taken

        username = self.cleaned_data["username"]
        if username_is_taken(username):
            raise forms.ValidationError("That username is taken; choose another.")
        return username


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=())
    days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=90,
    )
    note = forms.CharField(
        label="Note",
        max_length=200,
        required=False,
        help_text="Who it is for — only the team sees this.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Priya, backend"}),
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"days": settings.INVITE_TTL_DAYS, "role": Role.VIEWER})
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = grantable_roles(actor)


class PreauthForm(forms.Form):
    github_login = forms.CharField(
        label="GitHub login",
        max_length=39,
        widget=forms.TextInput(attrs={"placeholder": "octocat", "autocomplete": "off"}),
    )
    role = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"role": Role.VIEWER})
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = grantable_roles(actor)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class GithubSignInForm(forms.Form):
    client_id = forms.CharField(
        label="Client ID",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    client_secret = forms.CharField(
        label="Client secret",
        max_length=200,
        required=False,
        strip=True,
        # Never rendered back: the page shows only the stored secret's last characters.
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    github_url = forms.URLField(
        label="GitHub Enterprise URL",
        required=False,
        assume_scheme="https",
        help_text="Only for a GitHub Enterprise Server, e.g. https://github.example.com. "
        "Leave empty for github.com.",
        widget=forms.URLInput(attrs={"placeholder": "https://github.com"}),
    )
