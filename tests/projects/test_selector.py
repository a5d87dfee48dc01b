"""The header's project selector: `?project=<slug>` is shareable and remembered in the session,
on every page in the main navigation."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse

from apps.core.nav import NAV

pytestmark = pytest.mark.django_db


def main_pages() -> list[str]:
    """The header's pages, like the navigation shows them: only those whose URL exists."""
    pages = []
    for item in NAV.values():
        if item.section != "main":
            continue
        try:
            pages.append(reverse(item.url_name))
        except NoReverseMatch:
            continue
    return sorted(pages)


def selected(response) -> str | None:
    project = response.context["current_project"]
    return project.slug if project else None


def test_projects_is_registered_in_the_main_navigation():
    assert NAV["project-list"].label == "Projects"
    assert NAV["project-list"].order == 50
    assert "/projects/" in main_pages()


def test_a_shared_link_selects_the_project(client, viewer, project, other_project):
    client.force_login(viewer)
    response = client.get("/projects/?project=zephyr")
    assert selected(response) == "zephyr"
    assert '<option value="zephyr" selected>' in response.content.decode()


@pytest.mark.parametrize("page", main_pages())
def test_every_list_page_remembers_the_choice(client, viewer, project, other_project, page):
    client.force_login(viewer)
    client.get("/projects/?project=zephyr")
    response = client.get(page)
    assert response.status_code == 200, f"{page} answered {response.status_code}"
    assert selected(response) == "zephyr"
    # A shared link wins over the remembered choice, and becomes the remembered one.
    response = client.get(f"{page}?project=apollo")
    assert selected(response) == "apollo"
    assert selected(client.get(page)) == "apollo"
    # "All projects" clears it.
    client.get(f"{page}?project=all")
    assert selected(client.get(page)) is None


def test_an_unknown_slug_means_all_projects(client, viewer, project):
    client.force_login(viewer)
    assert selected(client.get("/projects/?project=nope")) is None


def test_the_choice_is_per_session(client, viewer, admin_user, project, other_project):
    from django.test import Client

    client.force_login(viewer)
    client.get("/projects/?project=zephyr")
    other = Client()
    other.force_login(admin_user)
    assert selected(other.get("/projects/")) is None
