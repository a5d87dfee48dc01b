"""Fixtures shared by every test: the team (owner, admin, viewer, outsider), projects, API
keys, an in-process Celery worker, the real platform process, and headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.support import free_port, missing, port_open, wait_for

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"


# --- people and projects -------------------------------------------------------------
def _user(username: str, role: str, **extra: Any):
    from apps.accounts.models import User

    return User.objects.create_user(
        username=username, password=PASSWORD, role=role, github_login=username, **extra
    )


@pytest.fixture
def owner(db):
    return _user("olivia", "owner", display_name="Olivia Owner")


@pytest.fixture
def admin_user(db):
    return _user("adam", "admin", display_name="Adam Admin")


@pytest.fixture
def viewer(db):
    return _user("vera", "viewer", display_name="Vera Viewer")


@pytest.fixture
def outsider(db):
    """Signed in, but holds no team role."""
    return _user("oscar", "", display_name="Oscar Outsider")


@pytest.fixture
def team(owner, admin_user, viewer, outsider):
    return {"owner": owner, "admin": admin_user, "viewer": viewer, "outsider": outsider}


@pytest.fixture
def project(db):
    from apps.projects.models import Project

    return Project.objects.create(name="Apollo", slug="apollo", description="The main project")


@pytest.fixture
def other_project(db):
    from apps.projects.models import Project

    return Project.objects.create(name="Zephyr", slug="zephyr")


def make_key(project: Any, scope: str = "write", name: str = "test key") -> str:
    from apps.projects.models import ApiKey

    raw, prefix, digest = ApiKey.generate()
    ApiKey.objects.create(project=project, name=name, prefix=prefix, key_hash=digest, scope=scope)
    return raw


@pytest.fixture
def write_key(project) -> str:
    return make_key(project, "write")


@pytest.fixture
def read_key(project) -> str:
    return make_key(project, "read", "read key")


@pytest.fixture
def api(write_key) -> APIClient:
    """An API client authenticated with a write key of `project`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {write_key}")
    return client


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    from apps.projects.authentication import forget_api_keys

    cache.clear()
    forget_api_keys()
    yield


# --- background work ------------------------------------------------------------------
@contextmanager
def _running_worker(django_db_blocker: Any) -> Iterator[Any]:
    """A real Celery worker (thread pool) on the configured broker; its threads close their
    database connections after each task (they outlive the worker, and an open connection
    keeps pytest from dropping the test database at the end)."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from config.celery import app

    def close_db(**kwargs: Any) -> None:
        from django.db import connections

        connections.close_all()

    task_postrun.connect(close_db, weak=False)
    try:
        with django_db_blocker.unblock():
            with start_worker(
                app,
                pool="threads",
                concurrency=4,
                perform_ping_check=False,
                loglevel="WARNING",
                shutdown_timeout=20,
            ) as worker:
                yield worker
    finally:
        task_postrun.disconnect(close_db)


@pytest.fixture(scope="session")
def _session_celery_worker(django_db_setup, django_db_blocker):
    with _running_worker(django_db_blocker) as worker:
        yield worker


@pytest.fixture
def celery_worker(request, transactional_db, django_db_blocker):
    """A real Celery worker for a test that needs committed rows (transactional_db).

    With Redis, one per test, started on a purged queue: a worker left running would take the
    tasks later tests enqueue and touch their tables while pytest truncates them (a deadlock
    on PostgreSQL). On the embedded broker, one for the session: a second worker started in
    the same process was seen to stop taking messages from the queue folder (and SQLite has
    no such deadlock)."""
    from config.celery import app

    if not settings.REDIS_URL:
        yield request.getfixturevalue("_session_celery_worker")
        _wait_for_platform_to_settle()
        return
    if not port_open("127.0.0.1", _redis_port()):
        missing("Redis is not reachable at REDIS_URL")
    app.control.purge()
    with _running_worker(django_db_blocker) as worker:
        yield worker
    _wait_for_platform_to_settle()


def _redis_port() -> int:
    from urllib.parse import urlparse

    return urlparse(settings.REDIS_URL).port or 6379


# --- the real platform process ----------------------------------------------------------
def _test_database_url() -> str:
    from django.db import connection

    from apps.core.db import database_url

    return database_url(connection.settings_dict)


class Platform:
    def __init__(self, url: str, procs: list[subprocess.Popen], log_dir: Path) -> None:
        self.url = url
        self.procs = procs
        self.log_dir = log_dir

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text()[-tail:]}" for p in sorted(self.log_dir.glob("*.log"))
        )

    def diagnose(self) -> str:
        """Thread stacks and the embedded worker's queue state, then the logs' tails."""
        import signal
        import time

        web = self.procs[0]
        if web.poll() is None:
            web.send_signal(signal.SIGUSR2)
            time.sleep(0.3)
            web.send_signal(signal.SIGUSR1)
            time.sleep(0.7)
        return self.logs(tail=20000)


PLATFORM_SECRET_KEY = "test-secret-key-for-the-live-platform-process-0123456789"


def platform_encrypt(value: str) -> str:
    """A secret encrypted as the platform process (its own SECRET_KEY) stores it."""
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    key = base64.urlsafe_b64encode(
        hashlib.sha256(f"switchboard.linear:{PLATFORM_SECRET_KEY}".encode()).digest())
    return Fernet(key).encrypt(value.encode()).decode()


@pytest.fixture(scope="session")
def platform(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Platform]:
    """`manage.py serve` as a subprocess on the test database: daphne (HTTP + WebSockets) and,
    embedded, the worker and beat inside it; with REDIS_URL, separate worker and beat
    processes as in production."""
    port = free_port()
    log_dir = tmp_path_factory.mktemp("platform")
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "SECRET_KEY": PLATFORM_SECRET_KEY,
        "DEBUG": "false",
        "SECURE_HTTPS": "false",
        "BEAT_TICK_SECONDS": "1",
        "SWITCHBOARD_DATA_DIR": str(log_dir),
        "DB_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
        "SWITCHBOARD_TESTING": "1",
        "ALERTS_ALLOW_PRIVATE_TARGETS": "true",  # the fake receivers listen on 127.0.0.1
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
        # Its own queue, as the embedded mode has its own broker folder: otherwise the
        # platform's worker takes tasks the test process enqueued, without the test's settings.
        env["CELERY_QUEUE"] = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-platform-{port}"
        if not port_open("127.0.0.1", _redis_port()):
            missing("Redis is not reachable at REDIS_URL")
    manage = [sys.executable, str(ROOT / "manage.py")]
    commands = {"web": [*manage, "serve", "--host", "127.0.0.1", "--port", str(port)]}
    if settings.REDIS_URL:
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        commands["worker"] = [
            *celery,
            "worker",
            "-l",
            "warning",
            "--concurrency",
            "2",
            "--pool",
            "threads",
        ]
        commands["beat"] = [
            *celery,
            "beat",
            "-l",
            "warning",
            "--schedule",
            str(log_dir / "beat-schedule"),
        ]
    procs = []
    for name, cmd in commands.items():
        log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    platform = Platform(f"http://127.0.0.1:{port}", procs, log_dir)
    try:
        wait_for(
            lambda: port_open("127.0.0.1", port) or procs[0].poll() is not None,
            timeout=40,
            message="the platform to listen",
        )
        if procs[0].poll() is not None:
            raise RuntimeError(f"serve exited:\n{platform.logs()}")
        # The first request imports most of Django; take that cost before any test's clock.
        wait_for(lambda: _answers(f"{platform.url}/readyz"), timeout=60, interval=0.2,
                 message="the platform to answer /readyz")
        yield platform
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


@pytest.fixture
def live(platform, transactional_db) -> Iterator[Platform]:
    """The running platform, with a clean database for this test."""
    yield platform
    _wait_for_platform_to_settle()


def _wait_for_platform_to_settle() -> None:
    """Before the test database is flushed, wait until the platform (web, worker) stopped
    touching it: on PostgreSQL a TRUNCATE racing an insert that a Celery reactor runs after
    the test's last request can deadlock."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    quiet_polls: list[bool] = []

    def settled() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle'"
            )
            quiet_polls.append(cursor.fetchone()[0] == 0)
        return len(quiet_polls) >= 3 and all(quiet_polls[-3:])

    try:
        wait_for(settled, timeout=10, interval=0.05, message="the platform to go quiet")
    except AssertionError:
        pass  # still busy: flush anyway, as before


# --- headless Chromium ----------------------------------------------------------------
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        missing(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot under var/screenshots/ to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login_browser(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """When a test on the live platform fails, attach what the platform was doing."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "live" in item.fixturenames:
        platform = item.funcargs.get("live")
        if platform is not None:
            try:
                report.sections.append(("live platform", platform.diagnose()))
            except Exception as exc:  # never hide the real failure
                report.sections.append(("live platform", f"diagnosis failed: {exc!r}"))


def pytest_sessionstart(session: Any) -> None:
    """Start from an empty embedded queue: tasks left by an earlier, interrupted run would
    otherwise run against this run's database."""
    import shutil

    if not settings.REDIS_URL:
        folder = settings.DATA_DIR / "broker-test"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "queue").mkdir(parents=True, exist_ok=True)
        (folder / "processed").mkdir(parents=True, exist_ok=True)
        (folder / "control").mkdir(parents=True, exist_ok=True)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop on the main thread for
    the rest of the session, and async_to_sync refuses to run beside it."""
    uses_browser = [
        item for item in items if {"browser", "page"} & set(getattr(item, "fixturenames", ()))
    ]
    if not uses_browser:
        return
    chosen = set(map(id, uses_browser))
    items[:] = [item for item in items if id(item) not in chosen] + uses_browser
