"""`manage.py project ...` and `manage.py apikey ...` for scripts."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.core.models import AuditEntry
from apps.projects.models import ApiKey, Project, hash_key
from tests.conftest import make_key

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_project_create(db):
    out = run("project", "create", "apollo", "--name", "Apollo Program")
    project = Project.objects.get(slug="apollo")
    assert project.name == "Apollo Program"
    assert "Created project apollo" in out
    entry = AuditEntry.objects.get(action="project.created")
    assert entry.actor is None and entry.actor_label == "manage.py"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apollo"], "already exists"),
        (["Not A Slug"], "slug"),
        (["new"], "reserved"),
        (["ok", "--name", "x" * 101], "name"),
    ],
)
def test_project_create_rejects_bad_input(project, args, message):
    with pytest.raises(CommandError, match=message):
        run("project", "create", *args)
    assert Project.objects.count() == 1


def test_project_list(project, other_project):
    make_key(project)
    Project.objects.create(name="Old", slug="old", archived=True)
    out = run("project", "list")
    assert "apollo" in out and "1 active key(s)" in out and "zephyr" in out
    assert "old" not in out
    assert "archived" in run("project", "list", "--all")


def test_project_list_when_empty(db):
    assert "No projects" in run("project", "list")


def test_apikey_create_prints_the_raw_key_last(project):
    out = run("apikey", "create", "--project", "apollo", "--scope", "read", "--name", "CI")
    raw = out.strip().splitlines()[-1]
    key = ApiKey.objects.get()
    assert key.key_hash == hash_key(raw)
    assert (key.scope, key.name, key.created_by) == ("read", "CI", None)
    assert AuditEntry.objects.filter(action="apikey.created", actor_label="manage.py").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope", "--name", "k"], "no project with slug 'nope'"),
        (["--project", "apollo", "--scope", "admin", "--name", "k"], "--scope must be one of"),
        (["--project", "apollo", "--name", "  "], "--name must not be empty"),
    ],
)
def test_apikey_create_rejects_bad_input(project, args, message):
    with pytest.raises(CommandError, match=message):
        run("apikey", "create", *args)
    assert not ApiKey.objects.exists()


def test_apikey_create_refuses_an_archived_project(project):
    project.archived = True
    project.save()
    with pytest.raises(CommandError, match="archived"):
        run("apikey", "create", "--project", "apollo", "--name", "k")


def test_apikey_revoke_by_prefix(project):
    raw = make_key(project)
    key = ApiKey.objects.get()
    out = run("apikey", "revoke", key.prefix)
    assert "Revoked" in out
    key.refresh_from_db()
    assert key.revoked_at is not None
    with pytest.raises(CommandError, match="already revoked"):
        run("apikey", "revoke", f"{key.prefix}…")
    with pytest.raises(CommandError, match="no API key"):
        run("apikey", "revoke", "sbk_zzzzzz")
    with pytest.raises(CommandError, match="prefix"):
        run("apikey", "revoke", "junk")
    assert raw


def test_apikey_revoke_accepts_the_whole_key(project):
    raw = make_key(project)
    run("apikey", "revoke", raw)
    assert ApiKey.objects.get().revoked_at is not None


def test_apikey_list_shows_prefixes_only(project):
    raw = make_key(project)
    out = run("apikey", "list", "--project", "apollo")
    assert ApiKey.objects.get().prefix in out
    assert raw not in out


@pytest.mark.django_db(transaction=True)
def test_the_raw_key_is_the_last_line_of_a_real_process(project):
    """As a script sees it: `manage.py apikey create ... | tail -n 1`, and a clear error exit."""
    from tests.conftest import _test_database_url

    env = {
        "DATABASE_URL": _test_database_url(),
        "SECRET_KEY": "x" * 50,
        "DEBUG": "true",
        "PATH": "/usr/bin:/bin",
    }
    cmd = [
        sys.executable,
        "manage.py",
        "apikey",
        "create",
        "--project",
        "apollo",
        "--scope",
        "write",
        "--name",
        "deploy bot",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    raw = done.stdout.strip().splitlines()[-1]
    assert ApiKey.objects.get(name="deploy bot").key_hash == hash_key(raw)
    bad = subprocess.run(
        [*cmd[:4], "--project", "nope", "--name", "x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "CommandError: no project with slug 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr
