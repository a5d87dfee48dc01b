"""The board in Chromium against the real platform process, which talks to a fake Linear:
a drag Linear accepts stays; a drag Linear refuses comes back with the reason."""

from __future__ import annotations

import pytest

from tests.conftest import login_browser, screenshot
from tests.linear.fake_linear import FakeLinear
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def fake():
    fake = FakeLinear().seed(issues=14, teams=1)
    with fake:
        yield fake


def _column_of(page, card_id: str) -> str:
    """The column holding the card. A live update may be swapping the board at that moment
    (the card detached for an instant): ask again until the card sits in a column."""
    from playwright.sync_api import Error

    def column() -> str | None:
        try:
            return page.eval_on_selector(
                f"#{card_id}",
                "el => el.parentElement && el.parentElement.getAttribute('data-state-id')",
            )
        except Error:  # no such element at this instant
            return None

    return wait_for(column, timeout=5, message=f"{card_id} in a column")


def _any_worker_can_call_linear(settings, fake) -> None:
    """With Redis, this process's Celery worker (from earlier tests in the session) consumes
    from the same queue as the platform's; it cannot decrypt a key the platform stored (other
    SECRET_KEY), so give it the key the way an operator would: LINEAR_API_KEY."""
    settings.LINEAR_API_KEY = fake.api_key


def _connect_linear_through_the_page(live, page, owner, project, fake, settings) -> None:
    """The platform process has its own SECRET_KEY and environment: aim the stored connection
    at the fake and let the owner enter the key through the page, as in real life; then wait
    for the platform's full sync and map the team to the project."""
    from apps.linear.models import LinearConnection, LinearIssue, LinearTeam, ProjectMapping

    _any_worker_can_call_linear(settings, fake)
    conn = LinearConnection.get()
    conn.api_url = fake.url
    conn.save()
    login_browser(page, live.url, owner.username)
    page.goto(f"{live.url}/settings/integrations/linear/")
    page.fill("#id_api_key", fake.api_key)
    page.click("button:has-text('Save key')")
    page.wait_for_selector("text=API key saved")
    wait_for(
        lambda: LinearIssue.objects.count() == 14, timeout=30, message="the platform's full sync"
    )
    ProjectMapping.objects.create(project=project, team=LinearTeam.objects.get())


def test_board_drag_accepted_and_refused(live, page, owner, project, fake, settings):
    from apps.agents.models import Agent
    from apps.linear.models import (
        LinearIssue,
        LinearWorkflowState,
    )

    Agent.objects.create(project=project, name="claude-1", status="working")
    _connect_linear_through_the_page(live, page, owner, project, fake, settings)
    page.goto(f"{live.url}/settings/integrations/linear/")
    screenshot(page, "linear-settings")

    page.goto(f"{live.url}/board/?project={project.slug}")
    page.wait_for_selector("html[data-live-state=live]", timeout=15_000, state="attached")
    todo = LinearWorkflowState.objects.get(name="Todo")
    progress = LinearWorkflowState.objects.get(name="In Progress")
    done = LinearWorkflowState.objects.get(name="Done")
    issue = LinearIssue.objects.filter(state=todo).order_by("id").first()
    card = f"issue-{issue.pk}"
    assert _column_of(page, card) == str(todo.pk)
    screenshot(page, "linear-board")

    # Accepted: the card moves at once, the worker calls issueUpdate, the card stays.
    page.drag_and_drop(f"#{card}", f"#col-{progress.pk}-cards")
    assert _column_of(page, card) == str(progress.pk)
    wait_for(
        lambda: fake.issues_by_id[issue.linear_id]["state"]["name"] == "In Progress",
        timeout=15,
        message="Linear to receive issueUpdate",
    )
    page.wait_for_selector(f"#{card}:not(.lcard-pending)", timeout=10_000)
    assert _column_of(page, card) == str(progress.pk)
    assert LinearIssue.objects.get(pk=issue.pk).pending_from_state_id is None

    # Refused: the card jumps to Done, Linear says no, the card goes back with the reason.
    fake.refuse_states[done.linear_id] = "Done needs a merged pull request"
    other = LinearIssue.objects.filter(state=todo).exclude(pk=issue.pk).order_by("id").first()
    other_card = f"issue-{other.pk}"
    page.drag_and_drop(f"#{other_card}", f"#col-{done.pk}-cards")
    assert _column_of(page, other_card) == str(done.pk)
    # (a CSP without unsafe-eval: wait with a selector, not a JS string)
    page.wait_for_selector(f"#col-{todo.pk}-cards > #{other_card}", timeout=15_000)
    page.wait_for_selector("#board-toast:not([hidden])")
    assert "merged pull request" in page.inner_text("#board-toast")
    assert "merged pull request" in page.inner_text(f"#{other_card}")
    assert fake.issues_by_id[other.linear_id]["state"]["name"] == "Todo"
    screenshot(page, "linear-board-refused")


def test_board_shows_webhook_changes_live(live, page, owner, project, fake, settings):
    from apps.linear.models import LinearIssue

    _connect_linear_through_the_page(live, page, owner, project, fake, settings)
    # Registering through the page gives the platform a webhook secret it can decrypt.
    page.click("button:has-text('Register webhook in Linear')")
    page.wait_for_selector("text=Webhook registered")
    page.goto(f"{live.url}/board/?project={project.slug}")
    page.wait_for_selector("html[data-live-state=live]", timeout=15_000, state="attached")
    issue = fake.issues[0]
    fake.touch(issue, title="Renamed in Linear just now")
    r = fake.deliver(
        f"{live.url}/api/v1/linear/webhook",
        fake.envelope("Issue", "update", fake.issue_payload(issue)),
    )
    assert r.status_code == 200, r.text
    local = LinearIssue.objects.get(linear_id=issue["id"])
    page.wait_for_selector(
        f"#issue-{local.pk}:has-text('Renamed in Linear just now')", timeout=15_000
    )
    page.goto(f"{live.url}/settings/integrations/linear/routing/new/")
    page.wait_for_selector("text=New routing rule")
    screenshot(page, "linear-routing-new")
