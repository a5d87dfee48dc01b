"""The control room in headless Chromium against the real platform process (`live`): changes
made through the REST API show without a reload, a dropped socket recovers, tabs agree."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import login_browser, make_key, screenshot
from tests.realtime import seed
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.live]


def api_client(live: Any, project: Any) -> httpx.Client:
    return httpx.Client(
        base_url=f"{live.url}/api/v1",
        headers={"Authorization": f"Bearer {make_key(project)}"},
        timeout=10,
    )


def card_status(page: Any, agent_id: int) -> str:
    return page.get_attribute(f"#agent-{agent_id}", "data-status") or ""


def wait_js(page: Any, expression: str, timeout: float = 2.0) -> Any:
    """Poll a JS expression from Python: page.wait_for_function evaluates strings, which the
    pages' CSP (no unsafe-eval) rightly refuses."""
    return wait_for(
        lambda: page.evaluate(expression), timeout=timeout, interval=0.05, message=expression
    )


def wait_live(page: Any) -> None:
    wait_js(page, "document.documentElement.getAttribute('data-live-state') === 'live'", 10)


def test_a_status_change_through_the_api_shows_without_reload(live, browser, page, viewer, project):
    fixer = seed.agent(project, "fixer", status="working")
    seed.agent(project, "reviewer", status="blocked", reason="waiting for a human")
    seed.agent(project, "crashy", status="error", reason="npm test exited 1")
    seed.agent(project, "night-owl", status="sleeping")
    seed.agent(project, "helper", status="idle", parent=fixer)
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/?project=apollo")
    wait_live(page)
    assert page.text_content("#live-indicator") == "Live"
    page.evaluate("window.__notReloaded = true")
    screenshot(page, "live-overview")
    with api_client(live, project) as api:
        r = api.post(
            f"/agents/{fixer.pk}/heartbeat",
            json={"status": "blocked", "message": "Permission to run rm -rf build/?"},
        )
        assert r.status_code == 200, r.text
    wait_js(page, f"document.querySelector('#agent-{fixer.pk}').dataset.status === 'blocked'", 2.0)
    assert page.evaluate("window.__notReloaded") is True
    attention = page.text_content("#ov-attention")
    assert "fixer" in attention and "Permission to run rm -rf build/?" in attention
    assert page.text_content("#ov-counts .sc-blocked .n") == "2"
    screenshot(page, "live-overview-after-change")


def test_the_page_recovers_after_the_socket_drops(live, page, viewer, project):
    fixer = seed.agent(project, "fixer", status="working")
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/?project=apollo")
    wait_live(page)
    # Note what the header says the moment the socket closes (the state is transient: the
    # page starts reconnecting at once, and Chromium's offline mode may spare loopback).
    page.evaluate(
        "document.addEventListener('htmx:wsClose', () => { window.__closedWith ="
        " document.getElementById('live-indicator').textContent; })"
    )
    page.evaluate("window.SwitchboardLive.drop()")
    page.context.set_offline(True)
    # Change the agent right away, while the page is between sockets (backoff >= 0.5 s).
    with api_client(live, project) as api:
        assert api.post(f"/agents/{fixer.pk}/heartbeat", json={"status": "idle"}).status_code == 200
        assert (
            api.post(
                f"/agents/{fixer.pk}/heartbeat",
                json={"status": "blocked", "message": "Waiting for approval"},
            ).status_code
            == 200
        )
    closed_with = wait_js(page, "window.__closedWith", 5)
    assert closed_with == "Reconnecting…"
    page.context.set_offline(False)
    # Reconnect (or polling, whichever is first) brings the page to the current state.
    wait_js(page, f"document.querySelector('#agent-{fixer.pk}').dataset.status === 'blocked'", 10)
    wait_live(page)
    assert "Waiting for approval" in page.text_content("#ov-attention")
    # And the socket delivers again after the reconnect.
    with api_client(live, project) as api:
        api.post(f"/agents/{fixer.pk}/heartbeat", json={"status": "working"})
    wait_js(page, f"document.querySelector('#agent-{fixer.pk}').dataset.status === 'working'", 2.0)


def test_two_tabs_agree(live, browser, viewer, project):
    agents = [seed.agent(project, f"agent-{i}", status="working") for i in range(3)]
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        one, two = context.new_page(), context.new_page()
        login_browser(one, live.url, viewer.username)
        one.goto(f"{live.url}/?project=apollo")
        two.goto(f"{live.url}/agents/?project=apollo")
        wait_live(one)
        wait_live(two)
        with api_client(live, project) as api:
            for a, status in zip(agents, ["blocked", "idle", "blocked"], strict=True):
                assert (
                    api.post(
                        f"/agents/{a.pk}/heartbeat",
                        json={
                            "status": status,
                            "message": "needs input" if status == "blocked" else "",
                        },
                    ).status_code
                    == 200
                )
        for a, status in zip(agents, ["blocked", "idle", "blocked"], strict=True):
            wait_js(
                one, f"document.querySelector('#agent-{a.pk}').dataset.status === '{status}'", 2.0
            )
            wait_js(
                two,
                f"document.querySelector('#agent-row-{a.pk}').dataset.status === '{status}'",
                2.0,
            )
            assert one.get_attribute(f"#agent-{a.pk}", "data-version") == two.get_attribute(
                f"#agent-row-{a.pk}", "data-version"
            )
        screenshot(two, "live-agents-list")
    finally:
        context.close()


def test_a_stale_fragment_changes_nothing(live, page, viewer, project):
    fixer = seed.agent(project, "fixer", status="working")
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/?project=apollo")
    wait_live(page)
    html = page.eval_on_selector(f"#agent-{fixer.pk}", "el => el.outerHTML")
    version = int(re.search(r'data-version="(\d+)"', html).group(1))
    older = html.replace(f'data-version="{version}"', f'data-version="{version - 1}"').replace(
        'data-status="working"', 'data-status="error"'
    )
    assert page.evaluate("html => window.SwitchboardLive.apply(html)", older) == 0
    assert page.evaluate("html => window.SwitchboardLive.apply(html)", html) == 0  # duplicate
    assert card_status(page, fixer.pk) == "working"
    newer = older.replace(f'data-version="{version - 1}"', f'data-version="{version + 5}"')
    assert page.evaluate("html => window.SwitchboardLive.apply(html)", newer) == 1
    assert card_status(page, fixer.pk) == "error"
    tomb = f'<article id="agent-{fixer.pk}" data-deleted data-version="{version + 6}"></article>'
    assert page.evaluate("html => window.SwitchboardLive.apply(html)", tomb) == 1
    assert page.query_selector(f"#agent-{fixer.pk}") is None
    # A late update for the deleted row does not bring it back.
    assert page.evaluate("html => window.SwitchboardLive.apply(html)", newer) == 0
    assert page.query_selector(f"#agent-{fixer.pk}") is None


def test_the_trace_viewer_shows_a_seeded_session(live, page, viewer, project):
    parent = seed.agent(project, "checkout-fixer", status="working")
    seed.agent(project, "test-runner", status="working", parent=parent)
    seed.traced_session(parent)
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/agents/{parent.pk}/")
    wait_live(page)
    turns = page.locator("#trace-turns .turn")
    assert turns.count() == 3
    assert (
        page.locator(".span.lat-bad").count() == 1 and page.locator(".span.is-error").count() == 1
    )
    assert "86.3%" in page.text_content("#trace-summary")
    page.locator(".span.is-error .wf-label").click()
    page.wait_for_selector("#span-drawer:not([hidden]) .span-error")
    assert "old_string not found in file" in page.text_content("#span-drawer")
    page.keyboard.press("Escape")
    assert "test-runner" in page.text_content("#agent-tree")
    screenshot(page, "live-agent-trace")
    # The reader collapses turn 2; a span landing in it replaces the turn and keeps it closed.
    page.locator(f"#fold-{parent.pk}-2 > summary").click()
    before = page.get_attribute(f"#turn-{parent.pk}-2", "data-version")
    with api_client(live, project) as api:
        for turn, span_id, tool in ((2, "toolu_late", "Glob"), (4, "toolu_new", "WebFetch")):
            r = api.post(
                "/spans",
                json={
                    "agent": parent.pk,
                    "span_id": span_id,
                    "phase": "finish",
                    "turn": turn,
                    "tool_name": tool,
                    "latency_ms": 450,
                },
            )
            assert r.status_code in (200, 201), r.text
    # A new span through the API lands in its turn while the page is open.
    page.wait_for_selector(f"#turn-{parent.pk}-4", timeout=2000)
    assert page.locator("#trace-turns .turn").first.get_attribute("id") == f"turn-{parent.pk}-4"
    wait_js(page, f"document.querySelector('#turn-{parent.pk}-2').dataset.version !== '{before}'")
    assert "Glob" in page.text_content(f"#turn-{parent.pk}-2")
    assert page.evaluate(f"document.querySelector('#fold-{parent.pk}-2').open") is False
    # A fresh snapshot changes nothing the reader did.
    page.evaluate("window.SwitchboardLive.resync()")
    page.wait_for_timeout(300)
    assert page.evaluate(f"document.querySelector('#fold-{parent.pk}-2').open") is False
    assert page.locator("#trace-turns .turn").count() == 4


def test_admins_act_from_the_agent_page(live, page, admin_user, project):
    stuck = seed.agent(project, "stuck", status="blocked", reason="Allow Bash(git push)?")
    login_browser(page, live.url, admin_user.username)
    page.goto(f"{live.url}/agents/{stuck.pk}/")
    wait_live(page)
    screenshot(page, "live-agent-admin")
    page.click("button[value=unblock]")
    page.wait_for_load_state("networkidle")
    assert "Unblock sent to stuck." in page.text_content(".flashes")
    assert page.get_attribute("#agent-head", "class").find("is-blocked") < 0


def test_an_admin_gives_an_agent_its_own_sleep_schedule(live, page, admin_user, project):
    from apps.agents.models import SleepSchedule

    owl = seed.agent(project, "night-owl", status="working")
    login_browser(page, live.url, admin_user.username)
    page.goto(f"{live.url}/agents/{owl.pk}/")
    page.click("a:has-text('Sleep schedule')")
    page.wait_for_url(f"{live.url}/agents/{owl.pk}/schedule/")
    page.select_option("select[name=schedule-timezone]", "Asia/Tokyo")
    page.select_option("select[name=windows-0-weekday]", "6")
    page.fill("input[name=windows-0-start]", "01:00")
    page.fill("input[name=windows-0-end]", "06:00")
    page.click("button:has-text('Save schedule')")
    assert "Sleep schedule of night-owl saved." in page.text_content(".flashes")
    assert SleepSchedule.objects.get(agent=owl).timezone == "Asia/Tokyo"
    screenshot(page, "agent-sleep-schedule")


def test_the_activity_feed_scrolls_and_streams(live, page, viewer, project):
    from apps.core.events import record_event

    chatty = seed.agent(project, "chatty", status="working")
    for i in range(80):
        record_event(
            "hook.notification", project=project, agent=chatty, data={"message": f"note {i:03d}"}
        )
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/activity/?project=apollo")
    wait_live(page)
    assert page.locator("#feed > li.event").count() == 50
    page.locator(".feed-more").scroll_into_view_if_needed()
    wait_js(page, "document.querySelectorAll('#feed > li.event').length > 50")
    assert "note 000" in page.text_content("#feed")
    page.evaluate("window.scrollTo(0, 0)")
    with api_client(live, project) as api:
        api.post(
            f"/agents/{chatty.pk}/heartbeat", json={"status": "blocked", "message": "Need a token"}
        )
    wait_js(
        page, "document.querySelector('#feed > li.event').textContent.includes('Need a token')", 2.0
    )
    screenshot(page, "live-activity")


def test_the_empty_overview_shows_how_to_connect(live, page, viewer, project):
    login_browser(page, live.url, viewer.username)
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live.url}/?project=apollo")
    wait_live(page)
    assert "switchboard_hook.py" in page.text_content("#claude-snippet")
    screenshot(page, "live-overview-empty-dark")
    # The first agent replaces the onboarding card as it registers.
    with api_client(live, project) as api:
        r = api.post(
            "/agents", json={"name": "first-light", "kind": "claude-code", "external_id": "s-1"}
        )
        assert r.status_code == 201, r.text
    page.wait_for_selector("#ov-cards .agent-card", timeout=2000)
    assert not page.locator("#ov-empty").is_visible()


def test_the_agents_list_filters_in_place_and_stays_live(live, page, viewer, project):
    agents = seed.many(project, 12)
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/agents/?project=apollo")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    page.fill("#f-q", "agent-00")  # the list's own search, not the header's
    wait_js(page, "document.querySelectorAll('#agents-tbody tr').length === 10", 5)
    assert "q=agent-00" in page.url
    page.select_option("select[name=status]", "blocked")
    wait_js(page, "document.querySelectorAll('#agents-tbody tr').length === 2", 5)
    assert page.evaluate("window.__notReloaded") is True
    wait_live(page)  # the region was swapped with its socket; it reconnects with the new filters
    blocked = agents[2]
    with api_client(live, project) as api:
        api.post(f"/agents/{blocked.pk}/heartbeat", json={"status": "working"})
    wait_js(page, f"document.querySelector('#agent-row-{blocked.pk}').dataset.status === 'working'")
    screenshot(page, "live-agents-list-filtered")


def test_a_plain_heartbeat_refreshes_the_last_heartbeat_time(live, page, viewer, project):
    from datetime import timedelta

    from apps.agents.models import Agent

    quiet = seed.agent(project, "quiet", status="working")
    # Seen two minutes ago: the card says so until the next heartbeat.
    Agent.objects.filter(pk=quiet.pk).update(
        last_heartbeat_at=quiet.last_heartbeat_at - timedelta(minutes=2)
    )
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/?project=apollo")
    wait_live(page)
    shown = f"document.querySelector('#agent-{quiet.pk} time[data-heartbeat-of]').textContent"
    assert page.evaluate(shown).startswith("2m")
    page.evaluate("window.__notReloaded = true")
    with api_client(live, project) as api:
        assert api.post(f"/agents/{quiet.pk}/heartbeat", json={}).status_code == 200
    # No event, no card re-render: a pulse within a few seconds.
    wait_js(page, f"/^(just now|[0-9]+s)/.test({shown})", 6.0)
    assert page.evaluate("window.__notReloaded") is True
