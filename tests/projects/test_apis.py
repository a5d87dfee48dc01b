"""/api/v1/whoami and /api/v1/projects: a key sees its own project only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.core.models import AuditEntry
from apps.projects.models import ApiKey, Project

pytestmark = pytest.mark.django_db


def test_whoami_with_a_key(api, project):
    response = api.get("/api/v1/whoami")
    assert response.status_code == 200
    body = response.json()
    key = ApiKey.objects.get()
    assert body["kind"] == "api_key"
    assert body["scope"] == "write"
    assert body["project"]["slug"] == "apollo" and body["project"]["name"] == "Apollo"
    assert body["key"]["prefix"] == key.prefix and body["key"]["name"] == "test key"
    assert "key_hash" not in str(body)


def test_projects_current_is_the_same(api, project):
    assert api.get("/api/v1/projects/current").json() == api.get("/api/v1/whoami").json()


def test_whoami_with_a_session(client, viewer):
    client.force_login(viewer)
    body = client.get("/api/v1/whoami").json()
    assert body == {"kind": "session", "user": "vera", "role": "viewer", "scope": "read"}


def test_projects_for_session_members(client, viewer, project, other_project):
    Project.objects.create(name="Old", slug="old", archived=True)
    client.force_login(viewer)
    response = client.get("/api/v1/projects")
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()["results"]] == ["apollo", "zephyr"]
    archived = client.get("/api/v1/projects?archived=true").json()["results"]
    assert [p["slug"] for p in archived] == ["apollo", "old", "zephyr"]


def test_projects_paginate_with_a_cursor(client, viewer):
    for i in range(5):
        Project.objects.create(name=f"P{i}", slug=f"p{i}")
    client.force_login(viewer)
    first = client.get("/api/v1/projects?limit=2").json()
    assert [p["slug"] for p in first["results"]] == ["p0", "p1"]
    second = client.get(first["next"]).json()
    assert [p["slug"] for p in second["results"]] == ["p2", "p3"]
    garbage = client.get("/api/v1/projects?cursor=garbage")
    assert garbage.status_code == 400 and "cursor" in garbage.json()["details"]
    assert client.get("/api/v1/projects?limit=0").status_code == 400
    assert client.get("/api/v1/projects?limit=x").status_code == 400
    assert len(client.get("/api/v1/projects?limit=100000").json()["results"]) == 5  # capped at 500, not refused


def test_an_outsider_session_is_refused(client, outsider, project):
    client.force_login(outsider)
    response = client.get("/api/v1/projects")
    assert response.status_code == 403
    assert response.json()["error"] == "You are not a member of this team."


def test_a_key_lists_only_its_project(api, project, other_project):
    assert [p["slug"] for p in api.get("/api/v1/projects").json()["results"]] == ["apollo"]


def test_a_key_cannot_see_or_touch_another_project(api, project, other_project):
    assert api.get("/api/v1/projects/apollo").status_code == 200
    response = api.get("/api/v1/projects/zephyr")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found.", "details": {}}
    response = api.patch("/api/v1/projects/zephyr", {"name": "Mine now"}, format="json")
    assert response.status_code == 404
    other_project.refresh_from_db()
    assert other_project.name == "Zephyr"


def test_a_write_key_updates_its_project(api, project):
    response = api.patch("/api/v1/projects/apollo", {"description": "Moon"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "Moon"
    project.refresh_from_db()
    assert project.description == "Moon"
    entry = AuditEntry.objects.get(action="project.updated")
    assert entry.actor is None and entry.actor_label.startswith("api key sbk_")


def test_a_read_key_cannot_update(project, read_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    response = client.patch("/api/v1/projects/apollo", {"description": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "This API key is read-only; a write-scoped key is required."


def test_a_viewer_session_cannot_update(client, viewer, project):
    client.force_login(viewer)
    response = client.patch(
        "/api/v1/projects/apollo", {"name": "x"}, content_type="application/json"
    )
    assert response.status_code == 403


def test_invalid_input_has_per_field_details(api, project):
    response = api.patch("/api/v1/projects/apollo", {"name": "", "description": 5}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid input."
    assert body["details"]["name"] == ["This field may not be blank."]
    response = api.patch("/api/v1/projects/apollo", ["not", "an", "object"], format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["details"]
