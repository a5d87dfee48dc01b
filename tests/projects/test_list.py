"""The projects list: every team member sees it; admins get the create button."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.projects.models import ApiKey, Project
from tests.conftest import make_key

pytestmark = pytest.mark.django_db


def main(response) -> str:
    """The page without the header (whose project selector names every project)."""
    return response.content.decode().split('<main id="main"', 1)[1]


def test_it_lists_active_projects_with_counts(client, viewer, project, other_project):
    make_key(project)
    make_key(project, name="old key")
    ApiKey.objects.filter(name="old key").update(revoked_at=timezone.now())
    Project.objects.create(name="Old", slug="old", archived=True)
    client.force_login(viewer)
    response = client.get("/projects/")
    assert response.status_code == 200
    body = main(response)
    assert "Apollo" in body and "Zephyr" in body
    assert "Old" not in body.split("<tbody>")[1]
    apollo = next(p for p in response.context["projects"] if p.slug == "apollo")
    assert apollo.key_count == 1
    assert apollo.agent_count == 0
    assert response.context["archived_count"] == 1
    # Viewers cannot manage projects, so no create, settings or keys links; connecting an
    # agent is for everyone (a viewer sees the snippets without a key).
    assert "/projects/new/" not in body
    assert 'href="/projects/apollo/"' not in body and "/projects/apollo/keys/" not in body
    assert 'href="/projects/apollo/connect/"' in body


def test_it_shows_archived_projects_on_their_tab(client, viewer, project):
    Project.objects.create(name="Old", slug="old", archived=True)
    client.force_login(viewer)
    body = main(client.get("/projects/?show=archived"))
    assert "Old" in body and "Apollo" not in body


def test_admins_get_the_create_button(client, admin_user, project):
    client.force_login(admin_user)
    body = client.get("/projects/").content.decode()
    assert 'href="/projects/new/"' in body
    assert 'href="/projects/apollo/keys/"' in body


def test_the_empty_state_says_what_to_do_next(client, admin_user, viewer):
    client.force_login(admin_user)
    body = client.get("/projects/").content.decode()
    assert "No projects yet" in body
    assert "Create your first project" in body
    assert "manage.py project create" in body
    client.force_login(viewer)
    body = client.get("/projects/").content.decode()
    assert "No projects yet" in body
    assert "Ask one of your team's admins" in body
    assert "Create your first project" not in body


def test_query_count_does_not_grow_with_rows(client, viewer, django_assert_max_num_queries):
    client.force_login(viewer)
    Project.objects.create(name="P0", slug="p0")
    with django_assert_max_num_queries(50) as few:
        client.get("/projects/")
    for i in range(1, 15):
        p = Project.objects.create(name=f"P{i}", slug=f"p{i}")
        make_key(p)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/projects/")
    assert len(response.context["projects"]) == 15


def test_it_is_in_the_main_navigation(client, viewer):
    client.force_login(viewer)
    response = client.get("/projects/")
    labels = [item["label"] for item in response.context["nav_main"]]
    assert "Projects" in labels
    active = [item for item in response.context["nav_main"] if item["active"]]
    assert [item["label"] for item in active] == ["Projects"]
