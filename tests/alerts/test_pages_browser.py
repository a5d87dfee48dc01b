"""The alert pages in Chromium against the real platform: the inbox updates live when an
agent is blocked through the API, and screenshots of each page to look at."""

from __future__ import annotations

import pytest
import requests

from apps.alerts.models import Alert, AlertRule, TeamChannel
from tests.conftest import login_browser, make_key, screenshot

pytestmark = [pytest.mark.live, pytest.mark.browser]


def _seed(project, make_agent, emit):
    AlertRule.objects.all().delete()
    AlertRule.objects.create(name="Agent blocked", event_kind="agent.blocked", severity="warning")
    AlertRule.objects.create(name="Agent erroring", event_kind="agent.error", threshold=3,
                             window_minutes=10, severity="critical", respect_quiet_hours=False)
    AlertRule.objects.create(name="Task completed", event_kind="task.completed", severity="info",
                             channels=["slack"])
    AlertRule.objects.create(name="Agent stale (offline)", event_kind="agent.offline",
                             severity="critical", enabled=False)
    from apps.alerts import rules

    rules.invalidate()
    a = make_agent("refactor-bot")
    emit("agent.blocked", a, status="blocked", reason="Needs approval to run database migration")
    emit("agent.blocked", a, reason="Needs approval to run database migration")
    b = make_agent("test-runner", kind="codex")
    for i in range(3):
        emit("agent.error", b, message=f"pytest exited with code 1 (run {i + 1})")
    c = make_agent("docs-writer", kind="opencode")
    emit("task.completed", c, result="Updated the API reference")
    Alert.objects.filter(agent=c).update(state="acknowledged")
    TeamChannel.objects.create(kind="slack", name="#agent-alerts", url="https://hooks.slack.com/services/T000/B000/XXXX")
    TeamChannel.objects.create(kind="webhook", name="PagerDuty bridge", url="https://ops.example.com/hooks/switchboard",
                               secret=TeamChannel.new_secret(), min_severity="critical")
    return a


def test_the_inbox_is_live_and_the_pages_look_right(live, page, admin_user, project, make_agent, emit):
    _seed(project, make_agent, emit)
    assert Alert.objects.filter(state="open").count() == 2
    login_browser(page, live.url, "adam")
    page.goto(f"{live.url}/settings/alerts/channels/")
    # The open ones; the acknowledged one is not news. Read against the database at that moment:
    # the platform's own sweeps run meanwhile and were seen to change an alert in between.
    badge = page.locator("#alerts-badge .alerts-bell-count").inner_text()
    assert badge == str(Alert.objects.filter(state="open").count()) and badge in ("1", "2")
    page.locator(".topbar").screenshot(path=str(screenshot(page, "alerts-badge")))
    page.goto(f"{live.url}/alerts/")
    page.wait_for_selector("#live-indicator[data-state=live]", timeout=15000)
    assert page.locator(".alert-row").count() == 3
    assert page.locator("#alerts-badge").count() == 1

    # An agent blocked through the API: the worker opens the alert, the row appears by itself.
    key = make_key(project)
    fresh = make_agent("deploy-agent")
    r = requests.post(f"{live.url}/api/v1/agents/{fresh.pk}/block", json={"reason": "Waiting for a human review"},
                      headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code in (200, 201), r.text
    page.wait_for_selector("text=deploy-agent is blocked: Waiting for a human review", timeout=20000)
    screenshot(page, "alerts-inbox")

    # Acknowledge from the inbox (htmx swaps the row).
    row = page.locator(".alert-row", has_text="deploy-agent")
    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector(".alert-row:has-text('deploy-agent') >> text=Acknowledged")
    alert = Alert.objects.get(agent=fresh)
    assert alert.state == "acknowledged"

    page.goto(f"{live.url}/alerts/{alert.pk}/")
    screenshot(page, "alerts-detail")
    page.goto(f"{live.url}/settings/alerts/")
    assert page.locator(".rules-table tbody tr").count() == 4
    screenshot(page, "alerts-rules")
    page.goto(f"{live.url}/settings/alerts/new/")
    screenshot(page, "alerts-rule-form")
    page.goto(f"{live.url}/settings/alerts/channels/")
    page.locator("details.secret summary").first.click()
    screenshot(page, "alerts-channels")
    page.goto(f"{live.url}/settings/notifications/")
    page.wait_for_selector("#push-status:not(:text('checking…'))")
    screenshot(page, "alerts-personal")


def test_an_admin_allows_a_waiting_prompt_from_the_alert(live, page, admin_user, project,
                                                         make_agent, emit):
    from apps.agents.approvals import approval_request
    from apps.agents.models import ApprovalRequest

    AlertRule.objects.all().delete()
    AlertRule.objects.create(name="Agent blocked", event_kind="agent.blocked", severity="warning")
    from apps.alerts import rules

    rules.invalidate()
    agent = make_agent("payments-api #3f9a1c")
    approval, _ = approval_request(
        agent=agent, key="perm-browser", tool_name="Bash", summary="npm run migrate -- --prod",
        input='{"command": "npm run migrate -- --prod", "description": "Run the migration"}',
        wait_seconds=300)
    emit("agent.blocked", agent, status="blocked",
         reason="waiting for permission to use Bash: npm run migrate -- --prod")
    alert = Alert.objects.get(agent=agent)
    login_browser(page, live.url, admin_user.username)
    page.goto(f"{live.url}/alerts/{alert.pk}/")
    page.wait_for_selector(".approval-card")
    screenshot(page, "alert-approval")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{live.url}/alerts/{alert.pk}/")
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "allowed"
    page.wait_for_load_state()
    assert page.locator(".approval-card").count() == 0
