"""Permission matrix over every accounts view: owner, admin, viewer, outsider, anonymous."""

from __future__ import annotations

import pytest

from apps.accounts import services

pytestmark = pytest.mark.django_db

WHO = ("owner", "admin", "viewer", "outsider", "anonymous")
OK, DENIED, LOGIN = "ok", "denied", "login"


def _objects(team):
    owner = team["owner"]
    invite, _ = services.invite_create(actor=owner, role="viewer")
    pending = services.preauth_create(actor=owner, github_login="pending-person", role="viewer")
    return {"invite": invite.pk, "preauth": pending.pk, "viewer": team["viewer"].pk}


# (method, path template, expected per WHO)
MATRIX = [
    ("get", "/settings/team/", (OK, OK, OK, DENIED, LOGIN)),
    ("get", "/settings/audit/", (OK, OK, DENIED, DENIED, LOGIN)),
    ("get", "/settings/sign-in/", (OK, DENIED, DENIED, DENIED, LOGIN)),
    ("post", "/settings/team/invites/", (OK, OK, DENIED, DENIED, LOGIN)),
    ("post", "/settings/team/invites/{invite}/revoke/", (OK, OK, DENIED, DENIED, LOGIN)),
    ("post", "/settings/team/preauthorized/", (OK, OK, DENIED, DENIED, LOGIN)),
    ("post", "/settings/team/preauthorized/{preauth}/revoke/", (OK, OK, DENIED, DENIED, LOGIN)),
    ("post", "/settings/team/members/{viewer}/role/", (OK, DENIED, DENIED, DENIED, LOGIN)),
    ("post", "/settings/team/members/{viewer}/remove/", (OK, DENIED, DENIED, DENIED, LOGIN)),
]


@pytest.mark.parametrize("method,path,expected", MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
@pytest.mark.parametrize("who", WHO)
def test_permission_matrix(client, team, method, path, expected, who):
    url = path.format(**_objects(team))
    if who != "anonymous":
        client.force_login(team[who])
    data = {"role": "viewer", "days": 7, "github_login": "someone-new"}
    response = client.get(url) if method == "get" else client.post(url, data)
    want = expected[WHO.index(who)]
    if want == LOGIN:
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    elif want == DENIED:
        assert response.status_code == 403
    elif method == "get":
        assert response.status_code == 200
    else:
        assert response.status_code == 302 and response["Location"] == "/settings/team/"


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/settings/team/invites/"),
        ("post", "/settings/audit/"),
        ("get", "/settings/team/members/1/remove/"),
    ],
)
def test_wrong_methods_are_refused(client, owner, method, path):
    client.force_login(owner)
    assert getattr(client, method)(path).status_code == 405


def test_unknown_objects_are_404(client, owner):
    client.force_login(owner)
    for url in (
        "/settings/team/invites/999999/revoke/",
        "/settings/team/preauthorized/999999/revoke/",
        "/settings/team/members/999999/role/",
        "/settings/team/members/999999/remove/",
    ):
        assert client.post(url, {"role": "viewer"}).status_code == 404


@pytest.mark.parametrize("who", WHO)
def test_public_pages_answer_everyone_the_same(client, team, who):
    if who != "anonymous":
        client.force_login(team[who])
    assert client.get("/invite/not-a-real-token/").status_code == 410
    assert client.get("/claim/not-a-real-token/").status_code == 410
    assert client.get("/accounts/login/").status_code in (200, 302)


def test_viewers_see_the_team_read_only(client, viewer, team):
    client.force_login(viewer)
    body = client.get("/settings/team/").content
    assert b"Olivia Owner" in body and b"Adam Admin" in body
    assert b"Create invite link" not in body
    assert b"team-member-role" not in body and b"/remove/" not in body and b"<select" not in body


def test_admins_invite_but_do_not_manage_roles(client, admin_user, team):
    client.force_login(admin_user)
    body = client.get("/settings/team/").content
    assert b"Create invite link" in body and b"Add by GitHub login" in body
    assert b"/role/" not in body and b"/remove/" not in body
    # An admin's role picker offers only viewer and admin.
    assert b'value="owner"' not in body


def test_owners_get_every_control(client, owner, team):
    client.force_login(owner)
    body = client.get("/settings/team/").content
    assert b"/role/" in body and b"/remove/" in body and b'value="owner"' in body


def test_the_admin_is_for_owners_only(client, team):
    for who, status in (("owner", 200), ("admin", 302), ("viewer", 302)):
        client.force_login(team[who])
        assert client.get("/admin/accounts/user/").status_code == status, who
        assert client.get("/admin/accounts/invite/").status_code == status, who
