"""Team invariants: at least one owner; nobody grants above their own role; only owners change
roles or remove members; removal ends the member's sessions at once."""

from __future__ import annotations

import pytest

from apps.accounts import services
from apps.accounts.models import User
from apps.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _set_role(client, member, role):
    return client.post(
        f"/settings/team/members/{member.pk}/role/", {"role": role, "confirm": "1"}, follow=True
    )


def test_an_owner_changes_a_role(client, owner, viewer):
    client.force_login(owner)
    response = _set_role(client, viewer, "admin")
    assert b"is now Admin" in response.content
    viewer.refresh_from_db()
    assert viewer.role == "admin"
    entry = AuditEntry.objects.get(action="member.role_changed")
    assert entry.actor == owner and entry.data == {"from": "viewer", "to": "admin"}
    assert entry.target_id == str(viewer.pk)


def test_the_last_owner_cannot_step_down(client, owner):
    client.force_login(owner)
    response = _set_role(client, owner, "admin")
    assert b"at least one owner" in response.content
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_an_owner_can_step_down_when_another_owner_exists(owner, admin_user):
    services.member_set_role(actor=owner, member=admin_user, role="owner")
    services.member_set_role(actor=owner, member=owner, role="viewer")
    admin_user.refresh_from_db()
    owner.refresh_from_db()
    assert owner.role == "viewer"
    with pytest.raises(services.AccessError):
        services.member_set_role(actor=admin_user, member=admin_user, role="admin")


def test_a_preauthorized_owner_does_not_count_as_an_owner(owner):
    services.preauth_create(actor=owner, github_login="ghost", role="owner")
    with pytest.raises(services.AccessError):
        services.member_set_role(actor=owner, member=owner, role="admin")


def test_admins_and_viewers_cannot_change_roles(client, admin_user, viewer):
    for actor in (admin_user, viewer):
        client.force_login(actor)
        assert (
            client.post(f"/settings/team/members/{viewer.pk}/role/", {"role": "admin"}).status_code
            == 403
        )
        with pytest.raises(services.AccessError):
            services.member_set_role(actor=actor, member=viewer, role="admin")
    viewer.refresh_from_db()
    assert viewer.role == "viewer"


def test_nobody_grants_above_their_own_role(admin_user, viewer):
    with pytest.raises(services.AccessError):
        services.invite_create(actor=admin_user, role="owner")
    with pytest.raises(services.AccessError):
        services.preauth_create(actor=admin_user, github_login="x", role="owner")
    with pytest.raises(services.AccessError):
        services.preauth_create(actor=viewer, github_login="x", role="viewer")


def test_an_unknown_role_is_refused(client, owner, viewer):
    client.force_login(owner)
    response = _set_role(client, viewer, "god")
    assert b"Choose owner, admin or viewer" in response.content
    viewer.refresh_from_db()
    assert viewer.role == "viewer"


def test_removing_a_member_ends_their_sessions(client, owner, viewer):
    from django.test import Client

    theirs = Client()
    theirs.force_login(viewer)
    assert theirs.get("/settings/team/").status_code == 200

    client.force_login(owner)
    response = client.post(f"/settings/team/members/{viewer.pk}/remove/", follow=True)
    assert b"signed out everywhere" in response.content

    after = theirs.get("/settings/team/")
    assert after.status_code == 302 and "/accounts/login/" in after["Location"]
    viewer.refresh_from_db()
    assert not viewer.is_active and viewer.role == ""
    from django.contrib.sessions.models import Session

    assert all(
        s.get_decoded().get("_auth_user_id") != str(viewer.pk) for s in Session.objects.all()
    )
    assert AuditEntry.objects.get(action="member.removed").data == {"role": "viewer"}
    # The removed member no longer appears on the team page.
    assert b"Vera Viewer" not in client.get("/settings/team/").content


def test_nobody_removes_themselves_or_the_last_owner(owner, admin_user):
    with pytest.raises(services.AccessError):
        services.member_remove(actor=owner, member=owner)
    services.member_set_role(actor=owner, member=admin_user, role="owner")
    admin_user.refresh_from_db()
    services.member_remove(actor=admin_user, member=owner)
    owner.refresh_from_db()
    assert not owner.is_active
    assert User.objects.filter(role="owner", is_active=True).count() == 1


def test_admins_cannot_remove_members(client, admin_user, viewer):
    client.force_login(admin_user)
    assert client.post(f"/settings/team/members/{viewer.pk}/remove/").status_code == 403
    viewer.refresh_from_db()
    assert viewer.is_active
