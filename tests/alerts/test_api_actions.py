"""POST /api/v1/alerts/<id>/snooze, POST /api/v1/alerts/bulk, /api/v1/alerts/mutes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.alerts.models import Alert, AlertMute


@pytest.fixture
def alerts(make_rule, make_agent, other_project, emit):
    make_rule("agent.blocked")
    ada, bob = make_agent("ada"), make_agent("bob")
    emit("agent.blocked", ada, status="blocked", reason="x")
    emit("agent.blocked", bob, status="blocked", reason="y")
    zed = make_agent("zed", proj=other_project)
    emit("agent.blocked", zed, status="blocked", reason="z")
    return {a.agent.name: a for a in Alert.objects.select_related("agent")}


def _session(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_a_key_snoozes_and_wakes_its_projects_alert(api, alerts):
    r = api.post(f"/api/v1/alerts/{alerts['ada'].pk}/snooze", {"snooze": "1h"}, format="json")
    assert r.status_code == 200 and r.json()["changed"] is True
    assert r.json()["alert"]["snoozed_until"]
    assert [a["id"] for a in api.get("/api/v1/alerts?state=snoozed").json()["results"]] == [
        alerts["ada"].pk]
    assert alerts["ada"].pk not in [a["id"] for a in
                                    api.get("/api/v1/alerts?state=active").json()["results"]]
    r = api.post(f"/api/v1/alerts/{alerts['ada'].pk}/snooze", {"snooze": "off"}, format="json")
    assert r.json()["alert"]["snoozed_until"] is None
    assert api.post(f"/api/v1/alerts/{alerts['zed'].pk}/snooze", {"snooze": "1h"},
                    format="json").status_code == 404


def test_snooze_refuses_bad_input_with_400(api, alerts):
    url = f"/api/v1/alerts/{alerts['ada'].pk}/snooze"
    assert api.post(url, {"snooze": "forever"}, format="json").status_code == 400
    assert api.post(url, {"snooze": "custom"}, format="json").status_code == 400
    assert api.post(url, {"snooze": "custom", "until": "2001-01-01T00:00:00Z"},
                    format="json").status_code == 400


def test_bulk_acts_only_within_scope(api, alerts):
    ids = [a.pk for a in alerts.values()]
    r = api.post("/api/v1/alerts/bulk", {"action": "ack", "alerts": ids}, format="json")
    assert r.status_code == 200
    assert r.json()["changed"] == 2 and len(r.json()["alerts"]) == 2
    assert Alert.objects.get(pk=alerts["zed"].pk).state == "open"
    r = api.post("/api/v1/alerts/bulk", {"action": "snooze", "snooze": "tomorrow",
                                         "alerts": ids}, format="json")
    assert r.json()["changed"] == 2
    assert api.post("/api/v1/alerts/bulk", {"action": "nope", "alerts": ids},
                    format="json").status_code == 400
    assert api.post("/api/v1/alerts/bulk", {"action": "snooze", "alerts": ids},
                    format="json").status_code == 400


def test_admins_mute_and_lift_over_the_api(admin_user, viewer, alerts):
    c = _session(admin_user)
    r = c.post("/api/v1/alerts/mutes", {"agent": alerts["ada"].agent_id, "duration": "1h"},
               format="json")
    assert r.status_code == 201, r.content
    assert r.json()["agent_name"] == "ada" and r.json()["until"]
    assert [m["id"] for m in c.get("/api/v1/alerts/mutes").json()["results"]] == [r.json()["id"]]
    assert c.post("/api/v1/alerts/mutes", {}, format="json").status_code == 400
    assert _session(viewer).post("/api/v1/alerts/mutes", {"agent": alerts["ada"].agent_id},
                                 format="json").status_code == 403
    assert c.delete(f"/api/v1/alerts/mutes/{r.json()['id']}").status_code == 204
    assert AlertMute.objects.get().lifted_at is not None
    assert c.get("/api/v1/alerts/mutes").json()["results"] == []
