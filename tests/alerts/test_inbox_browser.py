"""The inbox in Chromium against the live platform: bulk acknowledge, snooze from a row, and a
new alert arriving over the WebSocket landing at its severity position."""

from __future__ import annotations

import pytest
import requests

from apps.alerts.models import Alert, AlertRule
from tests.conftest import login_browser, make_key

pytestmark = [pytest.mark.live, pytest.mark.browser]


def _rules():
    from apps.alerts import rules

    AlertRule.objects.all().delete()
    AlertRule.objects.create(name="Agent blocked", event_kind="agent.blocked",
                             severity="critical", channels=[])
    AlertRule.objects.create(name="Claude asks", event_kind="hook.notification",
                             severity="warning", channels=[])
    rules.invalidate()


def _open_inbox(page, live, user):
    login_browser(page, live.url, user.username)
    page.goto(f"{live.url}/alerts/")
    page.wait_for_selector("#live-indicator[data-state=live]", timeout=15000)


def test_bulk_acknowledge_from_the_inbox(live, page, admin_user, make_agent, emit):
    _rules()
    for name in ("api-1", "api-2", "api-3"):
        emit("hook.notification", make_agent(name), message=f"{name} asks")
    _open_inbox(page, live, admin_user)
    for name in ("api-1", "api-3"):
        page.locator(".alert-row", has_text=name).locator('input[name="alert"]').check()
    assert page.locator("#bulk-count").inner_text() == "2 ticked"
    page.locator("#alert-bulk").get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector("text=2 alerts acknowledged.")
    states = dict(Alert.objects.values_list("agent__name", "state"))
    assert states == {"api-1": "acknowledged", "api-2": "open", "api-3": "acknowledged"}


def test_snooze_from_the_inbox(live, page, admin_user, make_agent, emit):
    _rules()
    emit("hook.notification", make_agent("sleepy"), message="asks")
    emit("hook.notification", make_agent("awake"), message="asks")
    _open_inbox(page, live, admin_user)
    row = page.locator(".alert-row", has_text="sleepy")
    row.locator(".snooze-menu summary").click()
    row.get_by_role("button", name="1 hour").click()
    page.wait_for_selector(".alert-row:has-text('sleepy')", state="detached")
    assert page.locator(".alert-row").count() == 1
    alert = Alert.objects.get(agent__name="sleepy")
    assert alert.snoozed
    page.goto(f"{live.url}/alerts/?state=snoozed")
    assert page.locator(".alert-row", has_text="sleepy").count() == 1


def test_a_live_alert_lands_at_its_severity_position(live, page, admin_user, project,
                                                     make_agent, emit):
    _rules()
    emit("agent.blocked", make_agent("crit-old"), status="blocked", reason="first")
    emit("hook.notification", make_agent("warn-a"), message="a")
    emit("hook.notification", make_agent("warn-b"), message="b")
    _open_inbox(page, live, admin_user)
    fresh = make_agent("crit-new")
    r = requests.post(f"{live.url}/api/v1/agents/{fresh.pk}/block",
                      json={"reason": "Waiting for a human review"},
                      headers={"Authorization": f"Bearer {make_key(project)}"}, timeout=10)
    assert r.status_code in (200, 201), r.text
    page.wait_for_selector(".alert-row:has-text('crit-new')", timeout=20000)
    # Not on top (where a plain prepend would put it): after the older critical, before the
    # warnings.
    agents = page.locator("#alert-items .alert-row .alert-meta a:first-child").all_inner_texts()
    assert agents == ["crit-old", "crit-new", "warn-a", "warn-b"]
