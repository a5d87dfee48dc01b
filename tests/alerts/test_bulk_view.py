"""POST /alerts/bulk/: the inbox's bulk bar, a plain form post that works without JavaScript."""

from __future__ import annotations

import pytest

from apps.alerts.models import Alert
from apps.core.audit import AuditEntry


@pytest.fixture
def three(make_rule, make_agent, emit):
    make_rule("agent.blocked")
    for name in ("ada", "bob", "cy"):
        emit("agent.blocked", make_agent(name), status="blocked", reason="x")
    return list(Alert.objects.order_by("id"))


def test_it_acknowledges_the_ticked_alerts(client, admin_user, three):
    client.force_login(admin_user)
    r = client.post("/alerts/bulk/", {"alert": [three[0].pk, three[1].pk], "action": "ack",
                                       "next": "/alerts/?state=active"})
    assert r.status_code == 302 and r["Location"] == "/alerts/?state=active"
    states = list(Alert.objects.order_by("id").values_list("state", flat=True))
    assert states == ["acknowledged", "acknowledged", "open"]
    assert AuditEntry.objects.get(action="alert.bulk").data["changed"] == 2


def test_it_resolves_and_says_how_many_already_were(client, admin_user, three):
    client.force_login(admin_user)
    client.post("/alerts/bulk/", {"alert": [three[0].pk], "action": "resolve"})
    r = client.post("/alerts/bulk/", {"alert": [a.pk for a in three], "action": "resolve"},
                    follow=True)
    assert "2 alerts resolved (1 already were)." in r.content.decode()
    assert set(Alert.objects.values_list("state", flat=True)) == {"resolved"}


def test_it_snoozes_the_ticked_alerts(client, admin_user, three):
    client.force_login(admin_user)
    client.post("/alerts/bulk/", {"alert": [three[2].pk], "action": "snooze", "snooze": "1h"})
    assert Alert.objects.get(pk=three[2].pk).snoozed_until is not None
    r = client.post("/alerts/bulk/", {"alert": [three[1].pk], "action": "snooze",
                                       "snooze": "custom", "until": ""}, follow=True)
    assert "Pick the date and time" in r.content.decode()


def test_it_refuses_viewers_and_bad_actions(client, admin_user, viewer, three):
    client.force_login(viewer)
    assert client.post("/alerts/bulk/", {"alert": [three[0].pk], "action": "ack"}).status_code == 403
    client.force_login(admin_user)
    r = client.post("/alerts/bulk/", {"alert": [three[0].pk], "action": "explode"}, follow=True)
    assert "Action one of" in r.content.decode()
    r = client.post("/alerts/bulk/", {"action": "ack"}, follow=True)
    assert "Tick the alerts" in r.content.decode()
    assert set(Alert.objects.values_list("state", flat=True)) == {"open"}
