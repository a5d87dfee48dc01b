from __future__ import annotations

import pytest
from django.urls import reverse

from tests.realtime import seed

pytestmark = pytest.mark.django_db


def test_it_requires_sign_in(client):
    r = client.get(reverse("overview"))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_it_refuses_outsiders(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("overview")).status_code == 403


def test_it_shows_how_to_connect_when_empty(client, viewer, project):
    client.force_login(viewer)
    r = client.get(reverse("overview") + "?project=apollo")
    body = r.content.decode()
    assert r.status_code == 200
    assert "No agents are reporting to Apollo yet" in body
    assert "python3 ~/.claude/hooks/switchboard_hook.py --install" in body
    assert "SWITCHBOARD_URL" in body and "SWITCHBOARD_API_KEY" in body
    assert reverse("project-keys", args=["apollo"]) in body


def test_it_shows_counts_attention_and_cards(client, viewer, project):
    seed.agent(project, "fixer", status="working")
    blocked = seed.agent(project, "reviewer", status="blocked", reason="needs approval")
    seed.agent(project, "crashy", status="error", reason="boom")
    client.force_login(viewer)
    body = client.get(reverse("overview")).content.decode()
    assert 'ws-connect="/ws/overview/?project=all"' in body
    assert f'id="agent-{blocked.pk}"' in body and f'data-version="{blocked.version}"' in body
    attention = body[body.index('id="ov-attention"') : body.index('id="ov-grid"')]
    # Longest-waiting first: reviewer was blocked before crashy errored.
    assert attention.index("reviewer") < attention.index("crashy")
    assert "needs approval" in attention
    assert "fixer" not in attention
    counts = body[body.index('id="ov-counts"') : body.index('id="ov-attention"')]
    assert 'class="status-count sc-blocked" href="/agents/?status=blocked" data-count="1"' in counts
    assert "<time data-relative" in body  # last heartbeat ticks in the browser


def test_it_scopes_to_the_chosen_project(client, viewer, project, other_project):
    seed.agent(project, "mine")
    seed.agent(other_project, "theirs")
    client.force_login(viewer)
    body = client.get(reverse("overview") + "?project=zephyr").content.decode()
    assert "theirs" in body and "mine" not in body


def test_its_live_partial_is_a_snapshot(client, viewer, project):
    seed.agent(project, "fixer", status="working")
    client.force_login(viewer)
    body = client.get(reverse("overview") + "?partial=live").content.decode()
    assert body.strip().startswith('<nav id="ov-counts"')
    assert "data-snapshot" in body and "<html" not in body


@pytest.mark.parametrize("n", [5, 50])
def test_its_query_count_does_not_grow_with_agents(
    client, viewer, project, django_assert_max_num_queries, n
):
    agents = seed.many(project, n)
    for a in agents[::3]:
        seed.agent(project, f"{a.name}-sub", parent=a)
    client.force_login(viewer)
    client.get(reverse("overview"))  # warm the session and caches
    with django_assert_max_num_queries(12):
        r = client.get(reverse("overview"))
    assert r.status_code == 200


def test_needs_attention_puts_what_a_human_can_act_on_first(client, viewer, project):
    """A session waiting at a permission prompt is not hidden behind older offline agents:
    waiting for a human, then erroring, then blocked for other reasons, offline last."""
    for i in range(3):
        seed.agent(project, f"gone-{i}", status="offline", reason="no heartbeat")
    seed.agent(project, "stuck", status="blocked", reason="error streak: 3 errors in 10 min")
    seed.agent(project, "crashy", status="error", reason="npm test exited 1")
    seed.agent(project, "asking", status="blocked",
               reason="waiting for permission to use Bash: rm -rf build/")
    client.force_login(viewer)
    body = client.get(reverse("overview")).content.decode()
    strip = body[body.index('id="ov-attention"'): body.index('id="ov-grid"')]
    order = sorted(["asking", "crashy", "stuck", "gone-0"], key=strip.index)
    assert order == ["asking", "crashy", "stuck", "gone-0"]


def test_offline_agents_wait_collapsed_under_their_count(client, viewer, project):
    """41 offline sessions do not hide a fresh permission prompt: they sit in a closed
    <details> after it, and the prompt is in the list a person sees first."""
    for i in range(41):
        seed.agent(project, f"gone-{i:02}", status="offline", reason="no heartbeat")
    seed.agent(project, "asking", status="blocked",
               reason="waiting for permission to use Bash: git push")
    client.force_login(viewer)
    body = client.get(reverse("overview")).content.decode()
    strip = body[body.index('id="ov-attention"'): body.index('id="ov-grid"')]
    details = strip[strip.index("<details class=\"attention-offline\""):]
    assert "<summary>41 offline agents</summary>" in details
    assert "asking" in strip and "asking" not in details
    assert "gone-00" in details
    assert "See all 41 offline" in details


def test_the_strip_is_all_clear_for_action_when_only_offline_agents_remain(
        client, viewer, project):
    seed.agent(project, "gone", status="offline", reason="no heartbeat")
    client.force_login(viewer)
    body = client.get(reverse("overview")).content.decode()
    assert "Nothing is waiting for you" in body
    assert "<summary>1 offline agent</summary>" in body
