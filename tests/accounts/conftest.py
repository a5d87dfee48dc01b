"""A fake GitHub on 127.0.0.1 speaking the OAuth web flow and the user API that allauth's GitHub
provider calls, and a helper that walks the whole dance over real HTTP."""

from __future__ import annotations

import json
import secrets
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

CLIENT_ID = "Iv1.fakeclientid"
CLIENT_SECRET = "fake-client-secret-0123456789"


class FakeGitHub:
    """State of the fake: who is "signed in to GitHub" and which codes/tokens were handed out."""

    def __init__(self) -> None:
        self.profile: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.url = ""

    def sign_in_as(self, github_id: int, login: str, name: str = "", avatar_url: str = "") -> None:
        self.profile = {
            "id": github_id,
            "login": login,
            "name": name or None,
            "avatar_url": avatar_url or f"https://avatars.example.test/u/{github_id}",
            "html_url": f"https://github.example.test/{login}",
            "email": None,
        }


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(
            self,
            status: int,
            body: bytes = b"",
            ctype: str = "application/json",
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            fake.requests.append(f"GET {url.path}")
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/login/oauth/authorize":
                if query.get("client_id") != CLIENT_ID or "redirect_uri" not in query:
                    return self._send(400, b'{"error":"bad_request"}')
                # The user is "already signed in to GitHub" and approves at once.
                code = secrets.token_hex(10)
                fake.codes[code] = {
                    "profile": dict(fake.profile),
                    "redirect_uri": query["redirect_uri"],
                }
                params = {"code": code, "state": query.get("state", "")}
                return self._send(
                    302, headers={"Location": f"{query['redirect_uri']}?{urlencode(params)}"}
                )
            if url.path == "/api/v3/user":
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("token ").removeprefix("Bearer ")
                if token not in fake.tokens:
                    return self._send(401, b'{"message":"Bad credentials"}')
                return self._send(200, json.dumps(fake.tokens[token]).encode())
            return self._send(404, b'{"message":"Not Found"}')

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            fake.requests.append(f"POST {url.path}")
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if url.path != "/login/oauth/access_token":
                return self._send(404, b'{"message":"Not Found"}')
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                # GitHub checks the app's credentials before the code.
                return self._send(
                    200, b"error=incorrect_client_credentials", "application/x-www-form-urlencoded"
                )
            grant = fake.codes.pop(form.get("code", ""), None)
            if (
                grant is None
                or form.get("client_id") != CLIENT_ID
                or form.get("client_secret") != CLIENT_SECRET
                or form.get("redirect_uri") != grant["redirect_uri"]
            ):
                # GitHub answers 200 with an error body for a bad code.
                return self._send(
                    200, b"error=bad_verification_code", "application/x-www-form-urlencoded"
                )
            token = "gho_" + secrets.token_hex(16)
            fake.tokens[token] = grant["profile"]
            body = urlencode({"access_token": token, "scope": "read:user", "token_type": "bearer"})
            return self._send(200, body.encode(), "application/x-www-form-urlencoded")

    return Handler


@pytest.fixture(scope="session")
def _fake_github_server() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_github_unconfigured(_fake_github_server: FakeGitHub, settings: Any, monkeypatch: Any) -> FakeGitHub:
    """The fake GitHub running, and nothing in the environment pointing at it: an owner sets
    it up from Settings → Sign-in."""
    fake = _fake_github_server
    fake.profile, fake.codes, fake.tokens, fake.requests = {}, {}, {}, []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    settings.GITHUB_CLIENT_ID = ""
    settings.GITHUB_CLIENT_SECRET = ""
    settings.GITHUB_LOGIN_ENABLED = False
    settings.GITHUB_URL = ""
    settings.GITHUB_API_URL = ""
    settings.SOCIALACCOUNT_PROVIDERS = {"github": {"SCOPE": ["read:user"]}}
    return fake


@pytest.fixture
def fake_github(_fake_github_server: FakeGitHub, settings: Any, monkeypatch: Any) -> FakeGitHub:
    """GitHub sign-in configured against the fake (web and API URLs both on 127.0.0.1)."""
    fake = _fake_github_server
    fake.profile, fake.codes, fake.tokens, fake.requests = {}, {}, {}, []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    settings.GITHUB_CLIENT_ID = CLIENT_ID
    settings.GITHUB_CLIENT_SECRET = CLIENT_SECRET
    settings.GITHUB_LOGIN_ENABLED = True
    settings.SOCIALACCOUNT_PROVIDERS = {
        "github": {
            "SCOPE": ["read:user"],
            "APPS": [{"client_id": CLIENT_ID, "secret": CLIENT_SECRET, "key": ""}],
        }
    }
    settings.GITHUB_URL = fake.url
    settings.GITHUB_API_URL = f"{fake.url}/api/v3"
    return fake


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def github_dance(client: Any, fake: FakeGitHub, **profile: Any) -> Any:
    """Sign in with GitHub the way a browser does: our login POST, GitHub's authorize page (real
    HTTP to the fake), back to our callback, which exchanges the code and reads /user over real
    HTTP. Returns the callback's response."""
    fake.sign_in_as(**profile)
    start = client.post("/accounts/github/login/")
    assert start.status_code == 302, start.content[:500]
    authorize = start["Location"]
    assert authorize.startswith(f"{fake.url}/login/oauth/authorize?"), authorize
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(authorize, timeout=5)
        raise AssertionError("the fake GitHub should redirect back")
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        callback = exc.headers["Location"]
    assert urlsplit(callback).path == "/accounts/github/login/callback/", callback
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}")
