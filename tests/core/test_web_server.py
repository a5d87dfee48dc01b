"""The Procfile's `web` process as production runs it: granian serving config.wsgi, on the test
database, over real HTTP. The command comes from the Procfile itself, so the two stay in step."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from apps.agents.models import Agent, AgentEvent
from apps.agents.services import agent_register
from tests.conftest import _test_database_url, make_key
from tests.support import free_port, port_open, wait_for

ROOT = Path(__file__).resolve().parents[2]


def procfile_web(port: int) -> list[str]:
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    command = line.split(":", 1)[1].strip()
    # ${NAME:-default} as the shell expands it, with PORT set.
    command = re.sub(r"\$\{PORT:-\d+\}", str(port), command)
    command = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", command)
    args = shlex.split(command)
    args[0] = str(Path(sys.executable).parent / args[0])
    return args


def http(method: str, url: str, body: dict | None = None, key: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def web(transactional_db, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "SECRET_KEY": "test-secret-key-for-the-web-process-0123456789-abcdefghijkl",
        "DEBUG": "false",
        "SECURE_HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
        "DB_CONN_MAX_AGE": "0",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    log = open(tmp_path / "web.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(procfile_web(port), cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: port_open("127.0.0.1", port) or proc.poll() is not None, timeout=40,
                 message="granian to listen")
        assert proc.poll() is None, (tmp_path / "web.log").read_text()
        wait_for(lambda: http("GET", f"{url}/healthz")[0] == 200, timeout=40, interval=0.2,
                 message="/healthz through granian")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_the_web_process_serves_pages_static_files_and_the_api(web, project):
    key = make_key(project, "write")
    agent, _ = agent_register(project=project, name="builder", external_id="s-1")

    status, headers, body = http("GET", f"{web}/static/js/live.js")
    assert status == 200 and b"version" in body
    assert headers["Content-Type"].startswith("text/javascript")
    status, _, body = http("GET", f"{web}/accounts/login/")
    assert status == 200 and b"<html" in body.lower()

    # A plain heartbeat (the fast path) and a status change (Django), through granian.
    status, headers, body = http("POST", f"{web}/api/v1/agents/{agent.pk}/heartbeat", {}, key)
    assert status == 200, body
    assert json.loads(body)["agent"]["id"] == agent.pk
    assert headers["X-Frame-Options"] == "DENY"
    assert Agent.objects.get(pk=agent.pk).last_heartbeat_at > agent.last_heartbeat_at
    status, _, body = http("POST", f"{web}/api/v1/agents/{agent.pk}/heartbeat",
                           {"status": "working", "message": "compiling"}, key)
    assert status == 200 and json.loads(body)["agent"]["status"] == "working"
    assert AgentEvent.objects.filter(agent=agent, kind="agent.status_changed").exists()

    status, _, body = http("POST", f"{web}/api/v1/agents/{agent.pk}/heartbeat", {}, "sbk_wrong")
    assert status == 401 and json.loads(body)["error"]
    status, _, body = http("GET", f"{web}/api/v1/agents", key=key)
    assert status == 200 and json.loads(body)["results"][0]["id"] == agent.pk
