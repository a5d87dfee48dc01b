"""Where allauth's GitHub provider talks to: github.com or a GitHub Enterprise server.

allauth computes its GitHub URLs once, at import time, from SOCIALACCOUNT_PROVIDERS, and
always derives the API from the web URL. We set them from GITHUB_URL / GITHUB_API_URL at
start-up (and again when a test overrides those settings), so an Enterprise server whose API
lives elsewhere, or a fake GitHub on 127.0.0.1, works too.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


def github_endpoints() -> tuple[str, str]:
    """(web URL, API URL) from settings."""
    web = (settings.GITHUB_URL or "").rstrip("/")
    api = (settings.GITHUB_API_URL or "").rstrip("/")
    if not api:
        api = f"{web}/api/v3" if web else "https://api.github.com"
    return web or "https://github.com", api


def configure_github_adapter() -> None:
    from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter

    web, api = github_endpoints()
    GitHubOAuth2Adapter.web_url = web
    GitHubOAuth2Adapter.api_url = api
    GitHubOAuth2Adapter.access_token_url = f"{web}/login/oauth/access_token"
    GitHubOAuth2Adapter.authorize_url = f"{web}/login/oauth/authorize"
    GitHubOAuth2Adapter.profile_url = f"{api}/user"
    GitHubOAuth2Adapter.emails_url = f"{api}/user/emails"


@receiver(setting_changed)
def _reconfigure(setting: str, **kwargs: Any) -> None:
    if setting in {"GITHUB_URL", "GITHUB_API_URL"}:
        configure_github_adapter()
