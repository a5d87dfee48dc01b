"""The owners' admin for users, invites and claim tokens."""

from __future__ import annotations

import pytest

from apps.accounts import services
from apps.accounts.models import ClaimToken, Invite
from apps.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_users_list_with_filters_and_search(client, team):
    client.force_login(team["owner"])
    response = client.get("/admin/accounts/user/?role__exact=admin")
    assert response.status_code == 200
    assert b"adam" in response.content and b"vera" not in response.content
    assert b"vera" in client.get("/admin/accounts/user/?q=vera").content
    assert client.get(f"/admin/accounts/user/{team['viewer'].pk}/change/").status_code == 200


def test_invites_never_show_their_hash_and_can_be_revoked(client, owner):
    invite, raw = services.invite_create(actor=owner, role="viewer")
    client.force_login(owner)
    listing = client.get("/admin/accounts/invite/")
    detail = client.get(f"/admin/accounts/invite/{invite.pk}/change/")
    for response in (listing, detail):
        assert response.status_code == 200
        assert invite.token_hash.encode() not in response.content
        assert raw.encode() not in response.content
    assert client.get("/admin/accounts/invite/add/").status_code == 403

    client.post("/admin/accounts/invite/", {"action": "revoke", "_selected_action": [invite.pk]})
    invite.refresh_from_db()
    assert invite.revoked_at is not None
    assert AuditEntry.objects.filter(action="invite.revoked", actor=owner).exists()


def test_claim_tokens_are_read_only_and_hashless(client, owner):
    ClaimToken.objects.create(token_hash="f" * 64, expires_at="2030-01-01T00:00:00Z")
    client.force_login(owner)
    response = client.get("/admin/accounts/claimtoken/")
    assert response.status_code == 200 and b"f" * 64 not in response.content
    assert Invite.objects.count() == 0


def test_role_changes_in_the_admin_go_through_the_team_rules(client, team):
    """Demoting the last owner from the admin is refused (it would lock everyone out of the
    admin); an allowed change is audited like one made on the Team page."""
    from apps.accounts.models import User
    from tests.support import admin_form_data

    owner, viewer = team["owner"], team["viewer"]
    client.force_login(owner)
    url = f"/admin/accounts/user/{owner.pk}/change/"
    r = client.post(url, admin_form_data(client, url, role="viewer", display_name="Olivia O."),
                    follow=True)
    assert b"Not changed: The team needs at least one owner" in r.content
    owner.refresh_from_db()
    assert owner.role == "owner" and owner.display_name == "Olivia O."  # the rest was saved
    url = f"/admin/accounts/user/{viewer.pk}/change/"
    client.post(url, admin_form_data(client, url, role="admin"))
    assert User.objects.get(pk=viewer.pk).role == "admin"
    entry = AuditEntry.objects.filter(action="member.role_changed").latest("id")
    assert entry.data == {"from": "viewer", "to": "admin"}
