"""A role changes only once the owner confirms it: the team page's dialog posts `confirm`;
without JavaScript the same form lands on a confirmation page saying what the role may do."""

from __future__ import annotations

import pytest

from apps.core.models import AuditEntry
from apps.core.roles import ROLE_POWERS

pytestmark = pytest.mark.django_db


def _url(member):
    return f"/settings/team/members/{member.pk}/role/"


def test_an_unconfirmed_change_asks_on_a_page_and_changes_nothing(client, owner, viewer):
    client.force_login(owner)
    response = client.post(_url(viewer), {"role": "admin"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "an Admin?" in body and ROLE_POWERS["admin"] in body
    assert 'name="confirm" value="1"' in body
    viewer.refresh_from_db()
    assert viewer.role == "viewer"
    assert not AuditEntry.objects.filter(action="member.role_changed").exists()


def test_the_confirmation_page_works_with_a_plain_link_too(client, owner, viewer):
    client.force_login(owner)
    response = client.get(_url(viewer), {"role": "owner"})
    assert response.status_code == 200 and ROLE_POWERS["owner"] in response.content.decode()


def test_confirming_changes_the_role(client, owner, viewer):
    client.force_login(owner)
    response = client.post(_url(viewer), {"role": "admin", "confirm": "1"})
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.role == "admin"
    assert AuditEntry.objects.get(action="member.role_changed").data == {
        "from": "viewer", "to": "admin"
    }


def test_the_last_owner_still_cannot_step_down_when_confirmed(client, owner):
    client.force_login(owner)
    page = client.post(_url(owner), {"role": "viewer"}).content.decode()
    assert "your own role" in page
    response = client.post(_url(owner), {"role": "viewer", "confirm": "1"}, follow=True)
    assert b"at least one owner" in response.content
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_the_same_role_changes_nothing(client, owner, viewer):
    client.force_login(owner)
    assert client.post(_url(viewer), {"role": "viewer"}).status_code == 302


def test_a_bad_role_is_refused(client, owner, viewer):
    client.force_login(owner)
    response = client.post(_url(viewer), {"role": "god", "confirm": "1"}, follow=True)
    assert b"Choose owner, admin or viewer" in response.content


def test_the_team_page_carries_the_role_powers_for_the_dialog(client, owner, viewer):
    client.force_login(owner)
    body = client.get("/settings/team/").content.decode()
    assert 'id="role-dialog"' in body and "js/team.js" in body
    for power in ROLE_POWERS.values():
        assert f'data-power="{power}"' in body
    assert "data-autosubmit" not in body.split('id="members-title"')[1].split("</section>")[0]


def test_viewers_cannot_open_the_confirmation(client, viewer, admin_user):
    client.force_login(admin_user)
    assert client.get(_url(viewer), {"role": "admin"}).status_code == 403
