"""The "Connect an agent" page in headless Chromium against the real platform process: an admin
makes a key, the key fills the snippets, and the status turns green without a reload when data
sent with that key arrives (over OTLP/JSON, as Codex's exporter would send it)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import login_browser, screenshot
from tests.e2e.test_live_pages import wait_js, wait_live

pytestmark = [pytest.mark.browser, pytest.mark.live]


def codex_log(conversation: str) -> dict[str, Any]:
    """One OTLP/JSON log record of a Codex turn ending (codex.sse_event, response.completed)."""

    def attr(key: str, value: str | int) -> dict[str, Any]:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}

    return {"resourceLogs": [{
        "resource": {"attributes": [attr("service.name", "codex_cli_rs")]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": str(time.time_ns()),
            "body": {"stringValue": "codex.sse_event"},
            "attributes": [
                attr("event.name", "codex.sse_event"),
                attr("event.kind", "response.completed"),
                attr("conversation.id", conversation),
                attr("model", "gpt-5.1-codex"),
                attr("input_token_count", 1200),
                attr("output_token_count", 300),
            ],
        }]}],
    }]}


def test_a_new_key_fills_the_snippets_and_the_first_data_turns_it_green(
    live, page, admin_user, project
):
    login_browser(page, live.url, admin_user.username)
    page.goto(f"{live.url}/projects/apollo/connect/")
    wait_live(page)
    assert "Waiting for first data" in page.text_content("#connect-status")
    screenshot(page, "connect-waiting")

    # Tabs switch in place; the create button follows the chosen agent.
    page.click("#tab-codex")
    assert page.is_visible("#panel-codex") and not page.is_visible("#panel-claude-code")
    assert page.text_content("[data-agent-name]") == "Codex"
    page.click("text=Create a key for Codex")
    page.wait_for_selector("#new-key")
    raw = page.text_content("#new-key").strip()
    assert raw.startswith("sbk_")
    assert page.is_visible("#panel-codex")  # the redirect kept the tab
    assert f'Authorization = "Bearer {raw}"' in page.text_content("#panel-codex")
    page.click("#tab-otel")
    assert f"Authorization=Bearer {raw}" in page.text_content("#panel-otel")
    page.click("#tab-codex")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    screenshot(page, "connect-key-created")

    r = httpx.post(f"{live.url}/v1/logs", json=codex_log("conv-connect-1"),
                   headers={"Authorization": f"Bearer {raw}"}, timeout=10)
    assert r.status_code == 200, r.text
    wait_js(page, "document.querySelector('#connect-status').classList.contains('is-connected')",
            5.0)
    assert page.evaluate("window.__notReloaded") is True
    status = page.text_content("#connect-status")
    assert "Connected:" in status and "Codex" in status and "reported" in status
    screenshot(page, "connect-connected")

    # A reload does not show the key again, nor make another one.
    page.reload()
    assert page.locator("#new-key").count() == 0
    assert raw not in page.content()
    assert "Connected:" in page.text_content("#connect-status")


def test_a_viewer_on_a_phone_sees_snippets_and_the_status_by_polling(
    live, browser, viewer, project
):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        # The socket never gets through: the page must keep current by polling its partial.
        page.route_web_socket("**/ws/**", lambda ws: ws.close(code=1011, reason="down"))
        login_browser(page, live.url, viewer.username)
        page.goto(f"{live.url}/projects/apollo/connect/?agent=gemini-cli")
        assert page.locator("text=Create a key for").count() == 0
        assert "Only admins can create keys" in page.text_content(".connect-key")
        assert page.is_visible("#panel-gemini-cli")
        assert '"otlpProtocol": "http"' in page.text_content("#panel-gemini-cli")
        screenshot(page, "connect-phone-viewer")
        key = _key(project)
        with httpx.Client(base_url=f"{live.url}/api/v1", timeout=10,
                          headers={"Authorization": f"Bearer {key}"}) as api:
            r = api.post("/events", json={"events": [{
                "type": "agent.register",
                "data": {"name": "gemini-on-ci", "kind": "gemini-cli", "external_id": "g-1"},
            }]})
            assert r.status_code < 300, r.text
        wait_js(page, "document.querySelector('#connect-status').classList.contains('is-connected')",
                10.0)
        assert "gemini-on-ci" in page.text_content("#connect-status")
        assert page.text_content("#live-indicator") != "Live"
        screenshot(page, "connect-phone-connected")
    finally:
        context.close()


def _key(project: Any) -> str:
    from tests.conftest import make_key

    return make_key(project)
