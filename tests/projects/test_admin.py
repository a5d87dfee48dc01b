"""The Django admin for projects and API keys: owners only, never the secret."""

from __future__ import annotations

import pytest

from apps.core.models import AuditEntry
from apps.projects.models import ApiKey, Project
from tests.conftest import make_key

pytestmark = pytest.mark.django_db


def test_owners_see_projects_with_filters_and_search(client, owner, project, other_project):
    client.force_login(owner)
    response = client.get("/admin/projects/project/?q=apol")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Apollo" in body and "Zephyr" not in body
    assert client.get("/admin/projects/project/?archived__exact=1").status_code == 200


def test_admins_and_viewers_cannot_open_it(client, admin_user, viewer, project):
    for user in (admin_user, viewer):
        client.force_login(user)
        response = client.get("/admin/projects/project/")
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_the_archive_action_archives_and_audits(client, owner, project, other_project):
    client.force_login(owner)
    response = client.post(
        "/admin/projects/project/",
        {
            "action": "archive",
            "_selected_action": [project.pk, other_project.pk],
        },
    )
    assert response.status_code == 302
    assert Project.objects.filter(archived=True).count() == 2
    assert AuditEntry.objects.filter(action="project.archived", actor=owner).count() == 2
    client.post(
        "/admin/projects/project/", {"action": "unarchive", "_selected_action": [project.pk]}
    )
    project.refresh_from_db()
    assert not project.archived


def test_editing_in_the_admin_goes_through_the_service(client, owner, project):
    client.force_login(owner)
    response = client.post(
        f"/admin/projects/project/{project.pk}/change/",
        {"name": "Apollo 13", "slug": "apollo", "description": "Houston"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.name == "Apollo 13"
    assert AuditEntry.objects.filter(action="project.updated").exists()


def test_keys_list_shows_prefix_label_scope_and_state_but_no_hash(client, owner, project):
    raw = make_key(project, "read", "dashboard")
    key = ApiKey.objects.get()
    client.force_login(owner)
    body = client.get("/admin/projects/apikey/").content.decode()
    for text in (key.prefix, "dashboard", "read", "active"):
        assert text in body
    assert key.key_hash not in body and raw not in body
    change = client.get(f"/admin/projects/apikey/{key.pk}/change/").content.decode()
    assert key.key_hash not in change and raw not in change
    assert client.get("/admin/projects/apikey/?state=revoked").status_code == 200


def test_keys_cannot_be_added_or_deleted_in_the_admin(client, owner, project):
    make_key(project)
    key = ApiKey.objects.get()
    client.force_login(owner)
    assert client.get("/admin/projects/apikey/add/").status_code == 403
    assert client.get(f"/admin/projects/apikey/{key.pk}/delete/").status_code == 403


def test_the_revoke_action_revokes_and_audits(client, owner, project):
    make_key(project)
    make_key(project, name="second")
    client.force_login(owner)
    client.post(
        "/admin/projects/apikey/",
        {
            "action": "revoke",
            "_selected_action": list(ApiKey.objects.values_list("pk", flat=True)),
        },
    )
    assert not ApiKey.objects.active().exists()
    assert AuditEntry.objects.filter(action="apikey.revoked", actor=owner).count() == 2
