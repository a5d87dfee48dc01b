"""/projects/new/: admins create projects; the slug is derived from the name when left empty."""

from __future__ import annotations

import pytest

from apps.core.models import AuditEntry
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def test_it_shows_the_form(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/projects/new/")
    assert response.status_code == 200
    body = response.content.decode()
    for field in ("name", "slug", "description"):
        assert f'name="{field}"' in body
    assert "Create project" in body


def test_it_creates_a_project_and_audits_it(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/projects/new/", {"name": "Apollo", "slug": "apollo", "description": "Moon shots"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/projects/apollo/keys/"
    project = Project.objects.get(slug="apollo")
    assert project.name == "Apollo" and project.description == "Moon shots"
    entry = AuditEntry.objects.get(action="project.created")
    assert entry.actor == admin_user
    assert entry.target_id == str(project.pk)
    assert entry.ip == "127.0.0.1"


def test_it_derives_the_slug_from_the_name(client, admin_user, project):
    client.force_login(admin_user)
    client.post("/projects/new/", {"name": "Mission Control — Ünïcode!", "slug": ""})
    assert Project.objects.filter(slug="mission-control-unicode").exists()
    # "Apollo" is taken by the fixture, so the suggestion moves on instead of failing.
    client.post("/projects/new/", {"name": "Apollo", "slug": ""})
    assert Project.objects.filter(slug="apollo-2", name="Apollo").exists()


def test_a_taken_slug_is_a_clear_form_error(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post("/projects/new/", {"name": "Another", "slug": "apollo"})
    assert response.status_code == 400
    assert "Another project already uses this slug" in response.content.decode()
    assert Project.objects.count() == 1
    # What the user typed is kept.
    assert 'value="Another"' in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "slug": "x"}, "name", "This field is required."),
        ({"name": "   ", "slug": "x"}, "name", "This field is required."),
        ({"name": "X", "slug": "Not A Slug!"}, "slug", "Enter a valid “slug”"),
        ({"name": "X", "slug": "new"}, "slug", "is reserved"),
        ({"name": "X" * 101, "slug": "x"}, "name", "at most 100 characters"),
    ],
)
def test_it_rejects_bad_input(client, admin_user, data, field, message):
    client.force_login(admin_user)
    response = client.post("/projects/new/", data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors
    assert any(message in e for e in errors[field])
    assert not Project.objects.exists()


def test_it_requires_admin(client, viewer):
    client.force_login(viewer)
    assert client.get("/projects/new/").status_code == 403
    assert client.post("/projects/new/", {"name": "X", "slug": "x"}).status_code == 403
    assert not Project.objects.exists()
