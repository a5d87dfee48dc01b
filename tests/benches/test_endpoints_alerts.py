"""Alert rules watch endpoint liveness: endpoint.down opens an alert per endpoint, and
endpoint.up resolves it (apps/alerts rules.SUBJECT_KINDS)."""

from __future__ import annotations

import pytest

from apps.alerts import engine, rules
from apps.alerts.models import Alert, AlertRule, AlertState
from apps.benches import probe

pytestmark = pytest.mark.django_db


@pytest.fixture
def down_rule(project):
    rule = AlertRule.objects.create(name="Endpoint down", project=project,
                                    event_kind="endpoint.down", severity="critical", channels=[])
    rules.invalidate()
    return rule


def test_a_rule_on_endpoint_down_opens_an_alert_and_endpoint_up_resolves_it(
        make_endpoint, fake, down_rule, settings):
    settings.BENCH_DOWN_AFTER = 2
    gpu1 = make_endpoint(name="gpu1", base_url=fake.url)
    gpu2 = make_endpoint(name="gpu2", base_url=fake.url + "/v1")
    fake.configure(down=True)
    for _ in range(2):
        for e in (gpu1, gpu2):
            probe.endpoint_probe(endpoint=e)
    engine.drain()
    alerts = list(Alert.objects.order_by("id"))
    assert len(alerts) == 2  # one per endpoint, not one per project
    assert all(a.state == AlertState.OPEN and a.agent_id is None for a in alerts)
    assert alerts[0].title == "Endpoint gpu1 is down: HTTP 503: " \
        '{"error": {"message": "down for maintenance"}}'
    assert alerts[0].severity == "critical" and alerts[0].rule_id == down_rule.pk

    fake.configure(down=False)
    probe.endpoint_probe(endpoint=gpu1)
    engine.drain()
    first, second = Alert.objects.order_by("id")
    assert first.state == AlertState.RESOLVED and "endpoint.up" in first.resolved_reason
    assert second.state == AlertState.OPEN  # gpu2 is still down


def test_a_repeat_down_after_recovery_opens_a_new_alert(make_endpoint, fake, down_rule, settings):
    settings.BENCH_DOWN_AFTER = 1
    e = make_endpoint(base_url=fake.url)
    for down in (True, False, True):
        fake.configure(down=down)
        probe.endpoint_probe(endpoint=e)
        engine.drain()
    assert list(Alert.objects.order_by("id").values_list("state", flat=True)) == [
        AlertState.RESOLVED, AlertState.OPEN]
