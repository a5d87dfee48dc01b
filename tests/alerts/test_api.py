"""GET /api/v1/alerts, ack, resolve; GET|PUT /api/v1/settings/alerts and DELETE one rule."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.alerts.models import Alert, AlertRule


@pytest.fixture
def alerts(make_rule, make_agent, other_project, emit):
    make_rule("agent.blocked")
    ada = make_agent("ada")
    emit("agent.blocked", ada, status="blocked", reason="x")
    zed = make_agent("zed", proj=other_project)
    emit("agent.blocked", zed, status="blocked", reason="y")
    return {"ada": Alert.objects.get(agent=ada), "zed": Alert.objects.get(agent=zed)}


def _session(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_a_project_key_lists_only_its_projects_alerts(api, alerts):
    response = api.get("/api/v1/alerts")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["id"], row["state"], row["project"], row["agent_name"]) == (
        alerts["ada"].pk, "open", "apollo", "ada")


def test_a_member_lists_all_and_filters(alerts, viewer):
    c = _session(viewer)
    assert len(c.get("/api/v1/alerts").json()["results"]) == 2
    assert len(c.get("/api/v1/alerts?project=zephyr").json()["results"]) == 1
    assert len(c.get(f"/api/v1/alerts?agent={alerts['ada'].agent_id}").json()["results"]) == 1
    assert c.get("/api/v1/alerts?state=resolved").json()["results"] == []
    bad = c.get("/api/v1/alerts?state=nope")
    assert bad.status_code == 400 and bad.json()["error"] == "Invalid input."
    assert c.get("/api/v1/alerts?agent=x").status_code == 400


def test_it_requires_authentication(anon_api, alerts, outsider):
    assert anon_api.get("/api/v1/alerts").status_code in (401, 403)
    assert _session(outsider).get("/api/v1/alerts").status_code == 403


def test_ack_and_resolve_with_a_write_key(api, alerts):
    pk = alerts["ada"].pk
    acked = api.post(f"/api/v1/alerts/{pk}/ack")
    assert acked.status_code == 200
    assert acked.json() == {"changed": True, "alert": {**acked.json()["alert"], "state": "acknowledged"}}
    assert api.post(f"/api/v1/alerts/{pk}/ack").json()["changed"] is False
    resolved = api.post(f"/api/v1/alerts/{pk}/resolve").json()
    assert resolved["alert"]["state"] == "resolved"
    assert resolved["alert"]["resolved_reason"] == "resolved by an API key"


def test_keys_cannot_touch_other_projects_or_write_read_only(api, read_key, alerts):
    assert api.post(f"/api/v1/alerts/{alerts['zed'].pk}/ack").status_code == 404
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert reader.post(f"/api/v1/alerts/{alerts['ada'].pk}/ack").status_code == 403
    assert reader.get("/api/v1/alerts").status_code == 200


def test_a_viewer_cannot_ack_but_an_admin_can(alerts, viewer, admin_user):
    pk = alerts["ada"].pk
    assert _session(viewer).post(f"/api/v1/alerts/{pk}/ack").status_code == 403
    assert _session(admin_user).post(f"/api/v1/alerts/{pk}/resolve").json()["alert"]["state"] == "resolved"
    assert _session(admin_user).post("/api/v1/alerts/9999/ack").status_code == 404


def test_admins_read_and_upsert_rules(admin_user, make_rule, project):
    rule = make_rule("agent.blocked")
    c = _session(admin_user)
    listed = c.get("/api/v1/settings/alerts").json()["rules"]
    assert [r["id"] for r in listed] == [rule.pk]
    response = c.put("/api/v1/settings/alerts", {"rules": [
        {"id": rule.pk, "severity": "critical"},
        {"name": "Codex done", "event_kind": "task.completed", "project": "apollo",
         "agent_kind": "codex", "channels": ["slack"], "severity": "info"},
    ]}, format="json")
    assert response.status_code == 200, response.json()
    rule.refresh_from_db()
    assert rule.severity == "critical" and rule.version == 2
    new = AlertRule.objects.get(name="Codex done")
    assert (new.project, new.channels) == (project, ["slack"])
    assert len(response.json()["rules"]) == 2


def test_bad_rules_are_refused_whole(admin_user, make_rule):
    rule = make_rule("agent.blocked")
    c = _session(admin_user)
    response = c.put("/api/v1/settings/alerts", {"rules": [
        {"id": rule.pk, "severity": "critical"},
        {"name": "x", "event_kind": "NOPE", "channels": ["pager"]},
    ]}, format="json")
    assert response.status_code == 400
    assert set(response.json()["details"]["rules"][1]) == {"event_kind", "channels"}
    rule.refresh_from_db()
    assert rule.severity == "warning"  # nothing saved
    assert c.put("/api/v1/settings/alerts", {"rules": [{"id": 999}]}, format="json").status_code == 404
    assert c.put("/api/v1/settings/alerts", "[", content_type="application/json").status_code == 400


def test_admins_delete_rules(admin_user, make_rule):
    rule = make_rule("agent.blocked")
    c = _session(admin_user)
    assert c.delete(f"/api/v1/settings/alerts/{rule.pk}").status_code == 204
    assert c.delete(f"/api/v1/settings/alerts/{rule.pk}").status_code == 404


def test_rule_settings_are_for_admins_only(api, viewer, make_rule):
    rule = make_rule("agent.blocked")
    assert api.get("/api/v1/settings/alerts").status_code == 403
    assert api.delete(f"/api/v1/settings/alerts/{rule.pk}").status_code == 403
    assert _session(viewer).get("/api/v1/settings/alerts").status_code == 403
    assert _session(viewer).put("/api/v1/settings/alerts", {"rules": []}, format="json").status_code == 403
