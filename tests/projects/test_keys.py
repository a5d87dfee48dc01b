"""/projects/<slug>/keys/: admins create keys (shown once) and revoke them."""

from __future__ import annotations

import re

import pytest

from apps.core.models import AuditEntry
from apps.projects.models import ApiKey, hash_key
from tests.conftest import make_key

pytestmark = pytest.mark.django_db


def created_key(response) -> str:
    match = re.search(r'<code id="new-key">(sbk_[A-Za-z0-9_-]+)</code>', response.content.decode())
    assert match, "the new key is not on the page"
    return match.group(1)


def test_it_creates_a_key_and_shows_it_once(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post("/projects/apollo/keys/", {"name": "CI runner", "scope": "read"})
    assert response.status_code == 302 and response["Location"] == "/projects/apollo/keys/"
    response = client.get(response["Location"])
    raw = created_key(response)
    body = response.content.decode()
    assert 'data-copy="#new-key"' in body
    assert "only time" in body
    key = ApiKey.objects.get()
    assert key.key_hash == hash_key(raw)
    assert raw.startswith(key.prefix) and key.prefix.startswith("sbk_")
    assert (key.name, key.scope, key.created_by) == ("CI runner", "read", admin_user)
    # The raw key is stored nowhere: not in the row, the audit log, nor (once shown) the session.
    assert raw not in str(ApiKey.objects.values().get())
    assert raw not in str(list(AuditEntry.objects.values()))
    assert raw not in str(dict(client.session))
    # From now on only the prefix is shown.
    later = client.get("/projects/apollo/keys/").content.decode()
    assert raw not in later
    assert f"{key.prefix}…" in later
    assert "CI runner" in later


def test_the_created_key_authenticates(client, admin_user, project):
    client.force_login(admin_user)
    raw = created_key(
        client.post("/projects/apollo/keys/", {"name": "k", "scope": "write"}, follow=True)
    )
    client.logout()
    response = client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json()["project"]["slug"] == "apollo"
    assert response.json()["scope"] == "write"


def test_it_audits_create_and_revoke(client, admin_user, project):
    client.force_login(admin_user)
    client.post("/projects/apollo/keys/", {"name": "k", "scope": "write"})
    key = ApiKey.objects.get()
    client.post(f"/projects/apollo/keys/{key.pk}/revoke/")
    created, revoked = (
        AuditEntry.objects.get(action=a) for a in ("apikey.created", "apikey.revoked")
    )
    assert created.actor == admin_user and created.data["prefix"] == key.prefix
    assert revoked.actor == admin_user and revoked.target_id == str(key.pk)


def test_it_lists_keys_with_state_and_last_use(client, admin_user, project, other_project):
    make_key(project, "write", "active one")
    make_key(project, "read", "gone one")
    make_key(other_project, "write", "someone else's")
    ApiKey.objects.filter(name="gone one").update(revoked_at="2026-01-02T03:04:05Z")
    client.force_login(admin_user)
    response = client.get("/projects/apollo/keys/")
    body = response.content.decode()
    assert "active one" in body and "gone one" in body
    assert "someone else's" not in body
    assert "revoked" in body and "never" in body
    assert [k.name for k in response.context["keys"]] == ["active one", "gone one"]
    assert response.context["active_count"] == 1


def test_revoke_turns_the_key_off(client, admin_user, project):
    raw = make_key(project)
    key = ApiKey.objects.get()
    client.force_login(admin_user)
    response = client.post(f"/projects/apollo/keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    # Revoking again is harmless and keeps the first revocation time.
    first = key.revoked_at
    client.post(f"/projects/apollo/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at == first
    assert AuditEntry.objects.filter(action="apikey.revoked").count() == 1


def test_revoke_needs_post_and_confirms_in_the_page(client, admin_user, project):
    make_key(project)
    key = ApiKey.objects.get()
    client.force_login(admin_user)
    assert client.get(f"/projects/apollo/keys/{key.pk}/revoke/").status_code == 405
    body = client.get("/projects/apollo/keys/").content.decode()
    assert f'data-confirm="Revoke {key.prefix}' in body


def test_a_key_of_another_project_cannot_be_revoked_here(
    client, admin_user, project, other_project
):
    make_key(other_project)
    key = ApiKey.objects.get()
    client.force_login(admin_user)
    assert client.post(f"/projects/apollo/keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "scope": "write"}, "name"),
        ({"name": "k", "scope": "admin"}, "scope"),
        ({"name": "k" * 101, "scope": "read"}, "name"),
    ],
)
def test_it_rejects_bad_input(client, admin_user, project, data, field):
    client.force_login(admin_user)
    response = client.post("/projects/apollo/keys/", data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert 'id="new-key"' not in response.content.decode()
    assert not ApiKey.objects.exists()


def test_an_archived_project_gets_no_new_keys(client, admin_user, project):
    project.archived = True
    project.save()
    client.force_login(admin_user)
    response = client.post("/projects/apollo/keys/", {"name": "k", "scope": "write"})
    assert response.status_code == 400
    assert "archived" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_empty_state_explains_keys(client, admin_user, project):
    client.force_login(admin_user)
    body = client.get("/projects/apollo/keys/").content.decode()
    assert "No API keys yet" in body
    assert "manage.py apikey create --project apollo" in body


def test_query_count_does_not_grow_with_keys(
    client, admin_user, project, django_assert_max_num_queries
):
    client.force_login(admin_user)
    make_key(project)
    with django_assert_max_num_queries(50) as few:
        client.get("/projects/apollo/keys/")
    for i in range(12):
        ApiKey.objects.create(
            project=project,
            name=f"k{i}",
            prefix=f"sbk_{i:06}",
            key_hash=f"{i:064}",
            created_by=admin_user,
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/projects/apollo/keys/")


def test_the_page_showing_a_new_key_is_never_cached(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post("/projects/apollo/keys/", {"name": "k", "scope": "write"}, follow=True)
    assert "no-store" in response["Cache-Control"]
    assert "no-store" not in client.get("/projects/apollo/keys/").get("Cache-Control", "")


def test_a_reload_after_creating_a_key_creates_no_second_one(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post("/projects/apollo/keys/", {"name": "CI", "scope": "read"})
    # Post/redirect/get: what a reload repeats is the GET of the redirected page.
    assert response.status_code == 302
    shown = client.get(response["Location"])
    raw = created_key(shown)
    reloaded = client.get(response["Location"]).content.decode()
    assert ApiKey.objects.count() == 1
    assert raw not in reloaded and 'id="new-key"' not in reloaded
    assert "projects.new_key" not in client.session


def test_a_key_is_shown_only_on_its_projects_page(client, admin_user, project, other_project):
    client.force_login(admin_user)
    client.post("/projects/apollo/keys/", {"name": "CI", "scope": "read"})
    other = client.get(f"/projects/{other_project.slug}/keys/").content.decode()
    assert 'id="new-key"' not in other
    assert 'id="new-key"' in client.get("/projects/apollo/keys/").content.decode()
