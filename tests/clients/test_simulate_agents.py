"""`manage.py simulate_agents` drives traffic through the live platform's HTTP API."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.agents.models import Agent, AgentEvent, AgentTask, ToolSpan
from apps.projects.models import ApiKey
from tests.clients.conftest import warm_up
from tests.conftest import make_key

pytestmark = pytest.mark.django_db(transaction=True)


def simulate(*args: str) -> str:
    out = StringIO()
    call_command("simulate_agents", *args, stdout=out)
    return out.getvalue()


def test_it_drives_agents_through_the_api(live, project) -> None:
    warm_up(live.url, make_key(project, "read"))
    output = simulate("--project", project.slug, "--agents", "5", "--duration", "3",
                      "--tick", "0.15", "--workers", "5", "--seed", "7", "--url", live.url)

    assert "Ran " in output and "Failures" not in output, output
    agents = Agent.objects.filter(project=project)
    assert agents.count() == 5
    assert agents.filter(parent__isnull=False).count() == 1  # every fifth is a sub-agent
    assert {a.kind for a in agents} >= {"claude-code", "opencode", "codex"}
    assert agents.filter(last_heartbeat_at__isnull=False).count() == 5
    assert AgentTask.objects.filter(agent__project=project).exists()
    spans = ToolSpan.objects.filter(project=project)
    assert spans.exists() and spans.exclude(tokens_input=0).exists()
    assert AgentEvent.objects.filter(project=project, kind="agent.usage").exists()
    # A write key was made for the run, and every request was accepted.
    assert ApiKey.objects.filter(project=project, name__startswith="simulate_agents").exists()


def test_it_uses_the_given_key(live, project) -> None:
    key = make_key(project, "write")
    simulate("--project", project.slug, "--agents", "1", "--duration", "0.5", "--key", key,
             "--url", live.url)
    assert not ApiKey.objects.filter(project=project, name__startswith="simulate").exists()
    assert Agent.objects.filter(project=project).count() == 1


def test_it_refuses_an_unknown_project(db) -> None:
    with pytest.raises(CommandError, match="no project"):
        simulate("--project", "nope", "--duration", "1")


def test_it_says_when_the_server_is_unreachable(project, closed_url: str) -> None:
    with pytest.raises(CommandError, match="cannot reach"):
        simulate("--project", project.slug, "--duration", "1", "--url", closed_url)


def test_it_says_when_the_key_is_refused(live, project) -> None:
    with pytest.raises(CommandError, match="refused the key"):
        simulate("--project", project.slug, "--duration", "1", "--url", live.url,
                 "--key", "sbk_wrong")


def test_it_says_when_the_server_only_serves_https(project) -> None:
    """An HTTPS-only deployment answers plain HTTP with a redirect: say so, and which URL to
    use, instead of running and reporting "0 succeeded"."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(301)
            self.send_header("Location", f"https://switchboard.example.com{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        with pytest.raises(CommandError, match=r"HTTP 301.*pass --url https://switchboard.example.com"):
            simulate("--project", project.slug, "--duration", "1", "--key", "sbk_x",
                     "--url", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
