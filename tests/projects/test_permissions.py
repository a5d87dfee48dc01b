"""Every projects view against every kind of visitor: owner, admin, viewer, outsider, anonymous.

Anonymous visitors go to the sign-in page; signed-in users below the needed role get a 403;
nothing changes unless the role allows it."""

from __future__ import annotations

import pytest

from apps.projects.models import ApiKey, Project
from tests.conftest import make_key

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "viewer", "outsider", "anonymous"]
# (method, path, post data, roles allowed)
VIEWS = [
    ("get", "/projects/", None, {"owner", "admin", "viewer"}),
    ("get", "/projects/new/", None, {"owner", "admin"}),
    ("post", "/projects/new/", {"name": "New one", "slug": "new-one"}, {"owner", "admin"}),
    ("get", "/projects/apollo/", None, {"owner", "admin"}),
    ("post", "/projects/apollo/", {"name": "Renamed", "slug": "apollo"}, {"owner", "admin"}),
    ("post", "/projects/apollo/archive/", {"archived": "1"}, {"owner", "admin"}),
    ("get", "/projects/apollo/keys/", None, {"owner", "admin"}),
    ("post", "/projects/apollo/keys/", {"name": "k2", "scope": "write"}, {"owner", "admin"}),
    ("post", "/projects/apollo/keys/{key}/revoke/", {}, {"owner", "admin"}),
    ("get", "/projects/apollo/lifecycle/", None, {"owner", "admin"}),
    ("get", "/projects/apollo/connect/", None, {"owner", "admin", "viewer"}),
    ("post", "/projects/apollo/connect/", {"agent": "codex"}, {"owner", "admin"}),
]


def state() -> tuple:
    p = Project.objects.get(pk=Project.objects.order_by("pk").first().pk)
    return (
        Project.objects.count(),
        p.name,
        p.archived,
        ApiKey.objects.count(),
        ApiKey.objects.filter(revoked_at__isnull=False).count(),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "data", "allowed"), VIEWS, ids=[f"{m} {p}" for m, p, _, _ in VIEWS]
)
def test_permission_matrix(client, team, project, role, method, path, data, allowed):
    make_key(project)
    path = path.format(key=ApiKey.objects.get().pk)
    if role != "anonymous":
        client.force_login(team[role])
    before = state()
    response = getattr(client, method)(path, data) if data is not None else client.get(path)
    if role in allowed:
        assert response.status_code in (200, 302), response.content[:300]
        if method == "post":
            assert state() != before, "an allowed write changed nothing"
        if response.status_code == 302:
            assert not response["Location"].startswith("/accounts/login/")
    elif role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
        assert state() == before
    else:
        assert response.status_code == 403
        assert state() == before


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_unknown_projects_and_keys_are_404_for_admins(client, team, project, other_project, role):
    make_key(other_project)
    key = ApiKey.objects.get()
    client.force_login(team[role])
    for path in ("/projects/nope/", "/projects/nope/keys/"):
        assert client.get(path).status_code == 404
    assert client.post(f"/projects/apollo/keys/{key.pk}/revoke/").status_code == 404
    assert client.post("/projects/apollo/keys/999999/revoke/").status_code == 404
