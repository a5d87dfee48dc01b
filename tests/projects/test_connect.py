"""/projects/<slug>/connect/: per-agent set-up snippets with the site's address, a key made in
one click (admins; POST/redirect/GET, shown once) and the live "waiting for first data" status."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.agents.models import Agent
from apps.core.models import AuditEntry
from apps.projects import connect
from apps.projects.models import ApiKey, hash_key
from tests.realtime import seed

pytestmark = pytest.mark.django_db

URL = "/projects/apollo/connect/"
SITE = "http://testserver"


def text(response) -> str:
    """The page as a person reads it (snippets are HTML-escaped in the markup)."""
    return html.unescape(response.content.decode())


def shown_key(body: str) -> str:
    match = re.search(r'<code id="new-key">(sbk_[A-Za-z0-9_-]+)</code>', body)
    assert match, "the new key is not on the page"
    return match.group(1)


def test_it_shows_every_agent_with_the_site_url(client, viewer, project):
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    body = text(response)
    for name in ("Claude Code", "Codex", "Gemini CLI", "Cursor", "GitHub Copilot", "OpenCode",
                 "Aider / any CLI", "Any OpenTelemetry agent"):
        assert name in body
    assert f"export SWITCHBOARD_URL={SITE}" in body
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT={SITE}" in body
    assert f'endpoint = "{SITE}/v1/logs"' in body  # Codex's [otel] exporters
    assert f'metrics_exporter = {{ otlp-http = {{ endpoint = "{SITE}/v1/metrics"' in body
    assert "switchboard_hooks.py install codex" in body
    assert "switchboard_hooks.py install gemini-cli" in body
    assert "switchboard_hooks.py run -- \\\n  aider --notifications" in body
    assert "http/protobuf" in body and "gRPC is not supported" in body
    assert 'data-copy="#snip-codex-1"' in body


def test_the_site_url_setting_wins(client, viewer, project, settings):
    settings.SITE_URL = "https://switchboard.example.com/"
    client.force_login(viewer)
    body = text(client.get(URL))
    assert "export SWITCHBOARD_URL=https://switchboard.example.com\n" in body


def test_a_viewer_sees_placeholders_and_no_create_button(client, viewer, project):
    client.force_login(viewer)
    body = text(client.get(URL))
    assert "Create a key for" not in body
    assert "Only admins can create keys" in body
    assert f"SWITCHBOARD_API_KEY={connect.KEY_PLACEHOLDER}" in body
    # The admin-only tabs are not offered to a viewer.
    assert "/projects/apollo/keys/" not in body


def test_a_viewer_cannot_create_a_key(client, viewer, project):
    client.force_login(viewer)
    assert client.post(URL, {"agent": "codex"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_an_outsider_gets_403_and_an_unknown_project_404(client, outsider, admin_user, project):
    client.force_login(outsider)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"agent": "codex"}).status_code == 403
    client.force_login(admin_user)
    assert client.get("/projects/nope/connect/").status_code == 404
    assert client.post("/projects/nope/connect/", {"agent": "codex"}).status_code == 404
    assert not ApiKey.objects.exists()


def test_an_admin_creates_a_key_post_redirect_get(client, admin_user, project):
    client.force_login(admin_user)
    body = text(client.get(URL + "?agent=codex"))
    assert "Create a key for <span data-agent-name>Codex</span>" in body
    response = client.post(URL, {"agent": "codex"})
    assert response.status_code == 302
    assert response["Location"] == URL + "?agent=codex"
    key = ApiKey.objects.get()
    assert (key.name, key.scope, key.created_by) == ("Connect: Codex", "write", admin_user)
    audit = AuditEntry.objects.get(action="apikey.created")
    assert audit.actor == admin_user and audit.data["prefix"] == key.prefix

    page = client.get(response["Location"])
    body = text(page)
    raw = shown_key(body)
    assert key.key_hash == hash_key(raw)
    assert "no-store" in page["Cache-Control"]
    # Filled into every snippet: hooks, OpenTelemetry headers, Codex's config.
    assert f"export SWITCHBOARD_API_KEY={raw}" in body
    assert f'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {raw}"' in body
    assert f'Authorization = "Bearer {raw}"' in body
    assert f'"SWITCHBOARD_API_KEY": "{raw}"' in body  # Claude Code's settings.json env
    assert connect.KEY_PLACEHOLDER not in body
    # The codex tab is the one open.
    assert 'id="panel-codex" aria-labelledby="tab-codex">' in body
    assert 'id="panel-claude-code" aria-labelledby="tab-claude-code" hidden>' in body

    # Shown once: a reload shows placeholders again, creates nothing, and the session is clean.
    again = text(client.get(response["Location"]))
    assert raw not in again
    assert f"SWITCHBOARD_API_KEY={connect.KEY_PLACEHOLDER}" in again
    assert raw not in str(dict(client.session))
    assert ApiKey.objects.count() == 1


def test_the_new_key_works(client, admin_user, project):
    client.force_login(admin_user)
    raw = shown_key(text(client.get(client.post(URL, {"agent": "cursor"})["Location"])))
    client.logout()
    response = client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json()["scope"] == "write"


def test_a_key_waiting_for_another_project_stays_there(client, admin_user, project, other_project):
    client.force_login(admin_user)
    client.post("/projects/zephyr/connect/", {"agent": "opencode"})
    assert "new-key" not in client.get(URL).content.decode()
    raw = shown_key(text(client.get("/projects/zephyr/connect/")))
    assert ApiKey.objects.get(project=other_project).key_hash == hash_key(raw)


def test_an_unknown_agent_falls_back_to_claude_code(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post(URL, {"agent": "../../etc"})
    assert response["Location"] == URL + "?agent=claude-code"
    assert ApiKey.objects.get().name == "Connect: Claude Code"


def test_an_archived_project_makes_no_key(client, admin_user, project):
    project.archived = True
    project.save()
    client.force_login(admin_user)
    response = client.post(URL, {"agent": "codex"}, follow=True)
    assert "archived" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_status_waits_then_names_the_agent(client, viewer, project, other_project):
    client.force_login(viewer)
    seed.agent(other_project, "elsewhere")  # another project's agent does not count
    body = text(client.get(URL))
    assert "Waiting for first data…" in body
    assert 'id="connect-status" class="card connect-status is-waiting" data-version="0"' in body
    agent = seed.agent(project, "fixer", kind="codex")
    body = text(client.get(URL + "?partial=status"))
    assert "is-connected" in body and "Connected:" in body and "fixer" in body
    version = int(agent.last_heartbeat_at.timestamp() * 1000)
    assert f'data-version="{version}"' in body and "data-snapshot" in body


def test_an_old_report_is_named_but_not_connected(client, viewer, project):
    agent = seed.agent(project, "fixer")
    Agent.objects.filter(pk=agent.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=3))
    client.force_login(viewer)
    body = text(client.get(URL))
    assert "is-earlier" in body and "Waiting for new data…" in body and "fixer" in body
    # Reported after the page was opened (?opened= in ms): connected.
    opened = int((timezone.now() - timedelta(hours=4)).timestamp() * 1000)
    body = text(client.get(f"{URL}?partial=status&opened={opened}"))
    assert "is-connected" in body


def test_the_page_is_linked_from_the_overview_and_projects(client, viewer, project):
    client.force_login(viewer)
    assert URL in client.get("/?project=apollo").content.decode()
    assert URL in client.get("/projects/").content.decode()


@pytest.mark.parametrize("name, source", [
    ("switchboard_hook.py", "clients/claude-code/switchboard_hook.py"),
    ("switchboard_hooks.py", "clients/hooks/switchboard_hooks.py"),
    ("switchboard.ts", "clients/opencode/switchboard.ts"),
])
def test_the_client_scripts_download_from_the_server(client, name, source) -> None:
    """What the snippets' `curl` fetches: the repository's own files, to anyone (no secret)."""
    from django.conf import settings

    r = client.get(f"/downloads/{name}")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/plain")
    assert r.content == (settings.BASE_DIR / source).read_bytes()
    assert client.get("/downloads/settings.py").status_code == 404
    assert client.get("/downloads/..%2Fconfig%2Fsettings.py").status_code == 404


def test_the_snippets_fetch_the_scripts_from_this_server(client, admin_user, project) -> None:
    client.force_login(admin_user)
    page = client.get(f"/projects/{project.slug}/connect/?agent=codex").content.decode()
    assert "curl -fsSL http://testserver/downloads/switchboard_hooks.py" in page
    assert "cp clients/" not in page
