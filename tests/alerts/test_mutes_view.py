"""/alerts/mutes/: the mutes in force, muting from an alert's page, and lifting."""

from __future__ import annotations

import pytest

from apps.alerts.models import Alert, AlertMute


@pytest.fixture
def alert(make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="x")
    return Alert.objects.get()


def test_an_admin_mutes_an_agent_from_the_alert_page_and_lifts_it(client, admin_user, alert):
    client.force_login(admin_user)
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert f'name="agent" value="{alert.agent_id}"' in page
    r = client.post("/alerts/mutes/", {"agent": alert.agent_id, "for": "4h",
                                       "next": f"/alerts/{alert.pk}/"})
    assert r.status_code == 302
    mute = AlertMute.objects.get()
    assert mute.agent_id == alert.agent_id and mute.until is not None
    listing = client.get("/alerts/mutes/").content.decode()
    assert "ada" in listing and "Unmute" in listing
    client.post(f"/alerts/mutes/{mute.pk}/lift/")
    assert "Nothing muted" in client.get("/alerts/mutes/").content.decode()


def test_a_rule_mute_until_lifted(client, admin_user, alert):
    client.force_login(admin_user)
    client.post("/alerts/mutes/", {"rule": alert.rule_id, "for": ""})
    assert AlertMute.objects.get().until is None


def test_viewers_see_mutes_but_cannot_change_them(client, viewer, admin_user, alert):
    from apps.alerts import services

    mute = services.mute_create(user=admin_user, agent=alert.agent)
    client.force_login(viewer)
    body = client.get("/alerts/mutes/").content.decode()
    assert "ada" in body and "Unmute" not in body
    assert client.post("/alerts/mutes/", {"agent": alert.agent_id}).status_code == 403
    assert client.post(f"/alerts/mutes/{mute.pk}/lift/").status_code == 403


def test_the_mutes_page_does_not_grow_in_queries(client, admin_user, make_agent,
                                                 django_assert_max_num_queries):
    from apps.alerts import services

    client.force_login(admin_user)
    for i in range(12):
        services.mute_create(user=admin_user, agent=make_agent(f"m{i}"))
    with django_assert_max_num_queries(12):
        assert client.get("/alerts/mutes/").status_code == 200
