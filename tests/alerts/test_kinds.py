"""A rule watching an event kind nobody records is refused, in the form and the API."""

from __future__ import annotations

from rest_framework.test import APIClient

from apps.alerts import kinds
from apps.alerts.models import AlertRule


def test_the_registry_knows_the_recorded_kinds_and_hook_events():
    for kind in ("agent.blocked", "agent.offline", "task.completed", "endpoint.down",
                 "bench.regression", "hook.notification"):
        assert kinds.is_valid(kind), kind
    assert not kinds.is_valid("agent.exploded")
    assert not kinds.is_valid("hook.")


def test_the_form_refuses_an_unknown_kind_with_the_valid_ones(client, admin_user, make_rule):
    client.force_login(admin_user)
    response = client.post("/settings/alerts/new/", {
        "name": "x", "event_kind": "agent.exploded", "threshold": 1, "window_minutes": 10,
        "severity": "warning", "action_interval_minutes": 60,
    })
    assert response.status_code == 400
    body = response.content.decode()
    assert "Unknown event kind" in body
    assert "Valid kinds: agent.{archived, blocked," in body and "hook.&lt;name&gt;" in body
    assert not AlertRule.objects.exists()


def test_the_api_refuses_an_unknown_kind_with_a_400(admin_user, make_rule):
    c = APIClient()
    c.force_authenticate(admin_user)
    response = c.put("/api/v1/settings/alerts",
                     {"rules": [{"name": "x", "event_kind": "agent.exploded"}]}, format="json")
    assert response.status_code == 400
    [err] = response.json()["details"]["rules"][0]["event_kind"]
    assert "Unknown event kind 'agent.exploded'" in err
    assert "task.{assigned, cancelled, completed," in err and "endpoint.{degraded, down, up}" in err
    ok = c.put("/api/v1/settings/alerts",
               {"rules": [{"name": "y", "event_kind": "hook.notification"}]}, format="json")
    assert ok.status_code == 200


def test_the_form_offers_every_valid_kind(client, admin_user):
    client.force_login(admin_user)
    body = client.get("/settings/alerts/new/").content.decode()
    for kind in ("agent.blocked", "task.failed", "endpoint.up", "workflow.step_failed"):
        assert f'<option value="{kind}"' in body
