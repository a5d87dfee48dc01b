"""POST /alerts/<id>/snooze/ from a row (htmx) or the alert's page (plain form)."""

from __future__ import annotations

import pytest

from apps.alerts.models import Alert


@pytest.fixture
def alert(make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="x")
    return Alert.objects.get()


def test_it_snoozes_for_an_hour_and_goes_back(client, admin_user, alert):
    client.force_login(admin_user)
    r = client.post(f"/alerts/{alert.pk}/snooze/", {"snooze": "1h", "next": "/alerts/"})
    assert r.status_code == 302 and r["Location"] == "/alerts/"
    alert.refresh_from_db()
    assert alert.snoozed


def test_from_the_active_view_the_row_leaves(client, admin_user, alert):
    client.force_login(admin_user)
    r = client.post(f"/alerts/{alert.pk}/snooze/", {"snooze": "tomorrow", "view": "active"},
                    HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r.content == b""


def test_wake_and_bad_input(client, admin_user, viewer, alert):
    client.force_login(admin_user)
    client.post(f"/alerts/{alert.pk}/snooze/", {"snooze": "1h"})
    client.post(f"/alerts/{alert.pk}/snooze/", {"snooze": "off"})
    alert.refresh_from_db()
    assert alert.snoozed_until is None
    r = client.post(f"/alerts/{alert.pk}/snooze/", {"snooze": "custom", "until": "2001-01-01T10:00"},
                    follow=True)
    assert "future" in r.content.decode()
    client.force_login(viewer)
    assert client.post(f"/alerts/{alert.pk}/snooze/", {"snooze": "1h"}).status_code == 403


def test_the_snoozed_tab_lists_it(client, admin_user, alert):
    client.force_login(admin_user)
    client.post(f"/alerts/{alert.pk}/snooze/", {"snooze": "1h"})
    assert f'id="alert-{alert.pk}"' not in client.get("/alerts/").content.decode()
    body = client.get("/alerts/?state=snoozed").content.decode()
    assert f'id="alert-{alert.pk}"' in body and "snoozed until" in body
