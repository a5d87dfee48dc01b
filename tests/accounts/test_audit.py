"""The audit page: owners and admins, newest first, filter by action, paginated, and a
constant number of queries whatever the number of rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.audit import audit_record
from apps.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _entries(n, actor, action="project.created"):
    for i in range(n):
        audit_record(action, actor=actor, data={"n": i})


def test_it_lists_newest_first_with_who(client, owner):
    audit_record("invite.created", actor=owner, data={"role": "viewer"})
    audit_record("member.removed", actor=owner, data={"role": "admin"})
    client.force_login(owner)  # itself audited as a sign-in, the newest entry
    response = client.get("/settings/audit/")
    entries = list(response.context["entries"])
    assert [e.action for e in entries] == ["auth.sign_in", "member.removed", "invite.created"]
    assert b"Olivia" in response.content or b"olivia" in response.content


def test_it_filters_by_action(client, owner):
    _entries(3, owner, "invite.created")
    _entries(2, owner, "member.removed")
    client.force_login(owner)
    response = client.get("/settings/audit/?action=member.removed")
    assert {e.action for e in response.context["entries"]} == {"member.removed"}
    assert response.context["page"].paginator.count == 2
    # An unknown filter shows everything rather than failing.
    assert client.get("/settings/audit/?action=<script>").status_code == 200


def test_it_paginates(client, owner):
    _entries(120, owner)
    client.force_login(owner)
    first = client.get("/settings/audit/")
    assert len(first.context["entries"]) == 50 and b"Older" in first.content
    last = client.get("/settings/audit/?page=3")
    assert len(last.context["entries"]) == 20 + 1  # + force_login's own sign-in entry
    assert client.get("/settings/audit/?page=999").status_code == 200
    assert client.get("/settings/audit/?page=abc").status_code == 200


def test_its_query_count_does_not_grow_with_rows(client, owner, admin_user):
    client.force_login(owner)
    _entries(3, admin_user)
    client.get("/settings/audit/")  # warm up session and last-seen writes
    with CaptureQueriesContext(connection) as few:
        client.get("/settings/audit/")
    _entries(45, owner)
    _entries(5, admin_user)
    with CaptureQueriesContext(connection) as many:
        client.get("/settings/audit/")
    assert len(many) == len(few)


def test_it_shows_an_empty_state(client, admin_user):
    client.force_login(admin_user)
    AuditEntry.objects.all().delete()
    assert b"Nothing recorded" in client.get("/settings/audit/").content


def test_team_page_query_count_does_not_grow_with_members(client, owner):
    from apps.accounts import services
    from apps.accounts.models import User

    client.force_login(owner)
    client.get("/settings/team/")
    with CaptureQueriesContext(connection) as few:
        client.get("/settings/team/")
    for i in range(15):
        User.objects.create_user(username=f"m{i}", role="viewer", github_login=f"m{i}")
        services.invite_create(actor=owner, role="viewer")
        services.preauth_create(actor=owner, github_login=f"p{i}", role="viewer")
    with CaptureQueriesContext(connection) as many:
        client.get("/settings/team/")
    assert len(many) == len(few)
