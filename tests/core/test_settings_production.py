"""Production settings from the environment, checked in fresh processes as start-up sees them."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Only what a server has: no DATABASE_URL/REDIS_URL/DEBUG leaking in from the test run.
BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        **BASE_ENV,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "postgres://switchboard:pw@127.0.0.1:5432/switchboard",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "ALLOWED_HOSTS": "switchboard.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://switchboard.example.com",
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


class Run:
    """A subprocess started now and awaited when a test needs its result."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._done: subprocess.CompletedProcess | None = None

    def result(self) -> subprocess.CompletedProcess:
        if self._done is None:
            out, err = self.proc.communicate(timeout=120)
            self._done = subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
        return self._done


@pytest.fixture(scope="module")
def slow_runs(tmp_path_factory):
    """The slow processes (full Django start-up) run side by side rather than one by one."""
    tmp = tmp_path_factory.mktemp("settings")
    deploy = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    show_cmd = [sys.executable, "-c", SHOW]
    runs = {
        "deploy": Run(deploy, production_env(tmp)),
        "deploy_http": Run(deploy, production_env(tmp, SECURE_HTTPS="false")),
        "show_production": Run(
            show_cmd, {**production_env(tmp), "DJANGO_SETTINGS_MODULE": "config.settings"}
        ),
        "show_embedded": Run(
            show_cmd,
            {
                **BASE_ENV,
                "SWITCHBOARD_DATA_DIR": str(tmp),
                "DJANGO_SETTINGS_MODULE": "config.settings",
            },
        ),
    }
    yield runs
    for run in runs.values():
        if run.proc.poll() is None:
            run.proc.kill()


def shown(run: Run) -> dict:
    done = run.result()
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_passes_with_production_settings(slow_runs):
    done = slow_runs["deploy"].result()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_fails_without_https(slow_runs):
    """The check above can fail: plain HTTP in production is flagged."""
    done = slow_runs["deploy_http"].result()
    assert done.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in done.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"PORT": "junk"}, "PORT='junk' is not a whole number"),
        ({"PORT": "70000"}, "PORT=70000 is not a TCP port"),
        ({"SECRET_KEY": None}, "SECRET_KEY is required when DEBUG is off"),
        ({"DATABASE_URL": "junk"}, "DATABASE_URL is not a valid database URL"),
        ({"DATABASE_URL": "mysql://u:p@db/switchboard"}, "DATABASE_URL must be a postgres://"),
        ({"DATABASE_URL": "postgres://u:p@db:5432"}, "DATABASE_URL names no database"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must start with redis://"),
        ({"RATE_LIMIT_KEY": "lots"}, "RATE_LIMIT_KEY: 'lots' is not a rate"),
        ({"RATE_LIMIT_IP": "10/fortnight"}, "RATE_LIMIT_IP:"),
        ({"CORS_ALLOWED_ORIGINS": "dashboard.example.com"}, "CORS_ALLOWED_ORIGINS:"),
        ({"NUM_PROXIES": "-1"}, "NUM_PROXIES='-1' must be at least 0"),
    ],
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={v[k]}" for k in v),
)
def test_a_bad_value_stops_start_up_with_a_clear_message(tmp_path, overrides, message):
    done = manage(production_env(tmp_path, **overrides), "check")
    assert done.returncode != 0
    assert f"Switchboard configuration error: {message}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


SHOW = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from config.celery import app
c = Client()
secure = c.get("/healthz", secure=True, HTTP_HOST="switchboard.example.com")
plain = c.get("/agents/", HTTP_HOST="switchboard.example.com")
health = c.get("/healthz", HTTP_HOST="switchboard.example.com")
print(json.dumps({
    "hsts": secure.headers.get("Strict-Transport-Security"),
    "csp": secure.headers.get("Content-Security-Policy"),
    "nosniff": secure.headers.get("X-Content-Type-Options"),
    "redirect": [plain.status_code, plain.headers.get("Location")],
    "health_over_http": health.status_code,
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "cors": settings.CORS_ALLOWED_ORIGINS,
    "debug": settings.DEBUG,
    "broker": type(app.connection_for_write().transport).__module__,
}))
"""


def test_https_settings_send_hsts_and_secure_cookies(slow_runs):
    seen = shown(slow_runs["show_production"])
    assert seen["hsts"] == "max-age=31536000; includeSubDomains"
    assert "default-src 'self'" in seen["csp"] and "script-src 'self'" in seen["csp"]
    assert seen["nosniff"] == "nosniff"
    assert seen["redirect"] == [301, "https://switchboard.example.com/agents/"]
    assert seen["health_over_http"] == 200  # load balancers probe over plain HTTP
    assert seen["session_secure"] is True and seen["csrf_secure"] is True
    assert seen["debug"] is False
    assert seen["cors"] == []
    # The Redis transport that fails a closed channel as a lost connection
    # (apps/core/redis_broker.py; tests/core/test_redis_broker.py).
    assert seen["broker"] == "apps.core.redis_broker"


def test_embedded_defaults_are_plain_http_without_cors(slow_runs):
    seen = shown(slow_runs["show_embedded"])
    assert seen["debug"] is False  # no tracebacks to clients, in `make run` too
    assert seen["hsts"] is None
    assert seen["csp"]  # CSP is always on
    assert seen["redirect"][0] != 301
    assert seen["session_secure"] is False
    assert seen["cors"] == []
    assert seen["broker"] == "apps.core.embedded_broker"
