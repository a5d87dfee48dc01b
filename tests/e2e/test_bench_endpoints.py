"""Benches → Endpoints in headless Chromium against the real platform: an admin adds an
endpoint through the form and its chip turns from unknown to up without a reload."""

from __future__ import annotations

from typing import Any

import pytest

from tests.benches.fake_stream import Behaviour, serving
from tests.conftest import login_browser, screenshot
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.live]


def wait_js(page: Any, expression: str, timeout: float = 2.0) -> Any:
    return wait_for(lambda: page.evaluate(expression), timeout=timeout, interval=0.05,
                    message=expression)


def test_an_added_endpoint_turns_up_live(live, browser, admin_user, project):
    from apps.benches.models import Endpoint

    with serving(Behaviour(models=["llama-3.1-8b", "qwen2.5-7b"])) as fake:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            login_browser(page, live.url, admin_user.username)
            page.goto(f"{live.url}/benches/?project=apollo")
            assert page.is_visible("text=No model endpoints yet")
            screenshot(page, "bench-endpoints-empty")
            page.click("text=Add endpoint >> nth=0")
            page.fill("input[name=name]", "gpu1-vllm")
            page.fill("input[name=base_url]", fake.url + "/v1")
            page.fill("input[name=api_key]", "sk-e2e-secret-2468")
            page.fill("input[name=default_model]", "llama-3.1-8b")
            screenshot(page, "bench-endpoint-form")
            page.click("button:has-text('Add endpoint')")
            page.wait_for_url(f"{live.url}/benches/?project=apollo")
            endpoint = Endpoint.objects.get(name="gpu1-vllm")
            chip = f"#endpoint-{endpoint.pk} .endpoint-chip"
            page.evaluate("window.__notReloaded = true")
            # The first probe runs in the worker right after the save; the chip follows live.
            wait_js(page, f"document.querySelector('{chip}').dataset.state === 'up'", 15)
            assert page.evaluate("window.__notReloaded === true")
            assert "sk-e2e-secret" not in page.content()
            assert page.text_content(f"#endpoint-{endpoint.pk} .endpoint-facts").count("2") >= 1
            screenshot(page, "bench-endpoints-light")
            page.emulate_media(color_scheme="dark")
            screenshot(page, "bench-endpoints-dark")
        finally:
            context.close()
        mobile = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        try:
            phone = mobile.new_page()
            login_browser(phone, live.url, admin_user.username)
            phone.goto(f"{live.url}/benches/?project=apollo")
            phone.wait_for_selector(".endpoint-card")
            screenshot(phone, "bench-endpoints-mobile")
        finally:
            mobile.close()
