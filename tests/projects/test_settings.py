"""/projects/<slug>/: admins edit a project, archive and unarchive it."""

from __future__ import annotations

import pytest

from apps.core.models import AuditEntry
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def test_it_shows_the_settings(client, admin_user, project):
    client.force_login(admin_user)
    response = client.get("/projects/apollo/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'value="Apollo"' in body and "Archive project" in body


def test_it_saves_changes_and_audits_what_changed(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post(
        "/projects/apollo/", {"name": "Apollo 11", "slug": "apollo-11", "description": "Landing"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/projects/apollo-11/"
    project.refresh_from_db()
    assert (project.name, project.slug, project.description) == (
        "Apollo 11",
        "apollo-11",
        "Landing",
    )
    assert project.version == 2
    entry = AuditEntry.objects.get(action="project.updated")
    assert entry.data["changed"]["slug"] == ["apollo", "apollo-11"]
    assert entry.actor == admin_user


def test_a_taken_slug_is_a_form_error(client, admin_user, project, other_project):
    client.force_login(admin_user)
    response = client.post("/projects/apollo/", {"name": "Apollo", "slug": "zephyr"})
    assert response.status_code == 400
    assert "Another project already uses this slug" in response.content.decode()
    project.refresh_from_db()
    assert project.slug == "apollo"
    # The page header still names the stored project, not the rejected input.
    assert response.context["project"].slug == "apollo"


def test_the_slug_cannot_be_emptied(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post("/projects/apollo/", {"name": "Apollo", "slug": ""})
    assert response.status_code == 400
    project.refresh_from_db()
    assert project.slug == "apollo"


def test_it_archives_and_unarchives(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post("/projects/apollo/archive/", {"archived": "1"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.archived
    # Archived projects leave the selector but their settings stay reachable.
    page = client.get("/projects/apollo/")
    assert page.status_code == 200
    assert "Unarchive project" in page.content.decode()
    assert project not in page.context["projects_for_selector"]
    client.post("/projects/apollo/archive/", {"archived": "0"})
    project.refresh_from_db()
    assert not project.archived
    actions = list(
        AuditEntry.objects.filter(action__startswith="project.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["project.archived", "project.unarchived"]


def test_archiving_twice_audits_once(client, admin_user, project):
    client.force_login(admin_user)
    client.post("/projects/apollo/archive/", {"archived": "1"})
    client.post("/projects/apollo/archive/", {"archived": "1"})
    assert AuditEntry.objects.filter(action="project.archived").count() == 1


def test_archive_needs_post(client, admin_user, project):
    client.force_login(admin_user)
    assert client.get("/projects/apollo/archive/").status_code == 405
    project.refresh_from_db()
    assert not project.archived


def test_unknown_project_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/projects/nope/").status_code == 404
    assert client.post("/projects/nope/archive/").status_code == 404


def test_it_requires_admin(client, viewer, project):
    client.force_login(viewer)
    assert client.get("/projects/apollo/").status_code == 403
    assert client.post("/projects/apollo/", {"name": "Hacked", "slug": "apollo"}).status_code == 403
    assert client.post("/projects/apollo/archive/").status_code == 403
    assert Project.objects.get(pk=project.pk).name == "Apollo"
