"""allauth adapters: sign-up is closed; GitHub identities get in only by invite, pre-authorisation
or as a returning member (apps.accounts.services.github_sign_in decides)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import render

from apps.accounts import services
from apps.accounts.github import env_in_effect, github_config
from apps.core.roles import Role

INVITE_SESSION_KEY = "accounts.invite_token"
LOGIN_METHOD_ATTR = "_switchboard_login_method"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        # The backend switch refuses too; this gives the form a clear message.
        if not settings.PASSWORD_LOGIN_ENABLED:
            raise ValidationError(
                "Password sign-in is turned off on this Switchboard. Sign in with GitHub."
            )
        return super().authenticate(request, **credentials)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return False

    def list_apps(self, request: Any, provider: Any = None, client_id: Any = None) -> list[Any]:
        """The environment's app (SOCIALACCOUNT_PROVIDERS) when GITHUB_CLIENT_ID is set, else the
        one saved in Settings → Sign-in."""
        if provider not in (None, "github") or env_in_effect():
            return super().list_apps(request, provider=provider, client_id=client_id)
        from allauth.socialaccount.models import SocialApp

        config = github_config()
        if not config.enabled or (client_id and client_id != config.client_id):
            return []
        return [
            SocialApp(
                provider="github", name="GitHub", client_id=config.client_id,
                secret=config.secret, key="",
            )
        ]

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        if sociallogin.account.provider != "github":
            raise ImmediateHttpResponse(_refused(request, ""))
        profile = services.GithubProfile.from_api(sociallogin.account.extra_data)
        invite_token = (
            request.session.pop(INVITE_SESSION_KEY, "") if hasattr(request, "session") else ""
        )
        try:
            user, how = services.github_sign_in(
                profile=profile, invite_token=invite_token, request=request
            )
        except services.SignInRefused:
            raise ImmediateHttpResponse(_refused(request, profile.login)) from None
        setattr(request, LOGIN_METHOD_ATTR, "github")
        if sociallogin.is_existing:
            if sociallogin.user.pk != user.pk:
                # The SocialAccount row points elsewhere (a removed and re-added person):
                # follow our own github_id binding.
                sociallogin.account.user = user
                sociallogin.account.save(update_fields=["user"])
            sociallogin.user = user
        else:
            sociallogin.connect(request, user)
        if how == "invite":
            messages.success(
                request, f"Welcome to the team. You joined as {Role(user.role).label}."
            )


def _refused(request: HttpRequest, login: str) -> Any:
    return render(request, "accounts/not_invited.html", {"github_login": login}, status=403)
