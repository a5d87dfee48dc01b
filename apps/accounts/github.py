"""Which GitHub sign-in is in effect, and where allauth's GitHub provider talks to.

Two sources: the environment (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, GITHUB_URL,
GITHUB_API_URL), which wins whenever GITHUB_CLIENT_ID is set, and the row an owner saves in
Settings → Sign-in (apps.accounts.models.GithubSignIn).

allauth computes its GitHub URLs once, at import time, and always derives the API from the web
URL. We replace them with properties read at each use, so an Enterprise server whose API lives
elsewhere, a server saved from the settings page, or a fake GitHub on 127.0.0.1 works too.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class GithubConfig:
    source: str  # "env", "stored" or "" (not set up)
    client_id: str = ""
    secret: str = ""
    web_url: str = "https://github.com"
    api_url: str = "https://api.github.com"

    @property
    def enabled(self) -> bool:
        return bool(self.source)


def env_in_effect() -> bool:
    return bool(settings.GITHUB_CLIENT_ID)


def _endpoints(web: str, api: str) -> tuple[str, str]:
    web, api = (web or "").rstrip("/"), (api or "").rstrip("/")
    if not api:
        api = f"{web}/api/v3" if web else "https://api.github.com"
    return web or "https://github.com", api


def github_config() -> GithubConfig:
    """The configuration in effect: the environment's if GITHUB_CLIENT_ID is set, else the stored
    one if complete, else none (the URLs still say where GitHub would be)."""
    if env_in_effect():
        web, api = _endpoints(settings.GITHUB_URL, settings.GITHUB_API_URL)
        source = "env" if settings.GITHUB_LOGIN_ENABLED else ""
        return GithubConfig(source, settings.GITHUB_CLIENT_ID, settings.GITHUB_CLIENT_SECRET, web, api)
    from apps.accounts.models import GithubSignIn

    stored = GithubSignIn.load()
    if stored.github_url:
        web, api = _endpoints(stored.github_url, "")
    else:
        web, api = _endpoints(settings.GITHUB_URL, settings.GITHUB_API_URL)
    if not stored.is_complete:
        return GithubConfig("", web_url=web, api_url=api)
    return GithubConfig("stored", stored.client_id, stored.client_secret, web, api)


def github_login_enabled() -> bool:
    # GITHUB_LOGIN_ENABLED stays the environment's switch (tests turn it off with it).
    return settings.GITHUB_LOGIN_ENABLED or github_config().enabled


def github_endpoints() -> tuple[str, str]:
    """(web URL, API URL) in effect."""
    config = github_config()
    return config.web_url, config.api_url


def github_form_action() -> str:
    """The GitHub origin sign-in forms are sent on to (CSP form-action)."""
    from urllib.parse import urlsplit

    parts = urlsplit(github_endpoints()[0])
    return f"{parts.scheme}://{parts.netloc}"


def configure_github_adapter() -> None:
    from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter

    GitHubOAuth2Adapter.web_url = property(lambda self: github_endpoints()[0])  # type: ignore[assignment]
    GitHubOAuth2Adapter.api_url = property(lambda self: github_endpoints()[1])  # type: ignore[assignment]
    GitHubOAuth2Adapter.access_token_url = property(  # type: ignore[assignment]
        lambda self: f"{self.web_url}/login/oauth/access_token"
    )
    GitHubOAuth2Adapter.authorize_url = property(  # type: ignore[assignment]
        lambda self: f"{self.web_url}/login/oauth/authorize"
    )
    GitHubOAuth2Adapter.profile_url = property(lambda self: f"{self.api_url}/user")  # type: ignore[assignment]
    GitHubOAuth2Adapter.emails_url = property(lambda self: f"{self.api_url}/user/emails")  # type: ignore[assignment]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str


def check_credentials(*, client_id: str, secret: str, web_url: str) -> CheckResult:
    """Ask GitHub whether a client id and secret belong together, without anyone signing in.

    Exchanging a made-up code answers `bad_verification_code` when the credentials are right
    and `incorrect_client_credentials` when they are not.
    """
    import httpx

    if not client_id or not secret:
        return CheckResult(False, "Enter a client ID and a client secret first.")
    url = f"{web_url.rstrip('/')}/login/oauth/access_token"
    try:
        response = httpx.post(
            url,
            data={"client_id": client_id, "client_secret": secret, "code": "switchboard-check"},
            headers={"Accept": "application/json"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        return CheckResult(False, f"Could not reach {url}: {exc.__class__.__name__}.")
    error = ""
    try:
        body = response.json()
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
    except ValueError:
        from urllib.parse import parse_qs

        error = (parse_qs(response.text).get("error") or [""])[0]
    if error == "bad_verification_code":
        return CheckResult(True, "GitHub accepted the client ID and secret.")
    if error == "incorrect_client_credentials":
        return CheckResult(False, "GitHub rejected the client ID or secret: check both.")
    if response.status_code == 404:
        return CheckResult(False, f"{url} was not found: is the GitHub URL right?")
    return CheckResult(
        False, f"Unexpected answer from {url}: HTTP {response.status_code} {error}".strip()
    )
