"""Global search: /search/?q= and the header's live results (htmx)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.core import search_seed
from tests.realtime import seed

pytestmark = pytest.mark.django_db


def test_it_requires_sign_in(client):
    r = client.get(reverse("search") + "?q=fixer")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_it_refuses_outsiders(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("search") + "?q=fixer").status_code == 403


def test_it_finds_agents_issues_and_alerts_grouped(client, viewer, project):
    agent = seed.agent(project, "payments-fixer", external_id="sess-7f3a")
    search_seed.linear_issue(project, "ENG-42", "Fix the payments retry loop")
    search_seed.alert(project, "payments-fixer is erroring")
    client.force_login(viewer)
    body = client.get(reverse("search") + "?q=payments").content.decode()
    assert body.index("<h3>Agents</h3>") < body.index("<h3>Linear issues</h3>") < body.index("<h3>Alerts</h3>")
    assert f'href="/agents/{agent.pk}/"' in body
    assert "ENG-42 Fix the payments retry loop" in body
    assert "payments-fixer is erroring" in body


def test_it_finds_an_agent_by_session_and_an_issue_by_identifier(client, viewer, project):
    seed.agent(project, "reviewer", external_id="sess-7f3a9")
    search_seed.linear_issue(project, "ENG-108", "Flaky test")
    client.force_login(viewer)
    body = client.get(reverse("search") + "?q=7f3a9").content.decode()
    assert "reviewer" in body
    body = client.get(reverse("search") + "?q=eng-108").content.decode()
    assert "ENG-108 Flaky test" in body


def test_it_keeps_to_the_chosen_project(client, viewer, project, other_project):
    seed.agent(project, "mine-agent")
    seed.agent(other_project, "theirs-agent")
    search_seed.linear_issue(other_project, "OPS-1", "agent theirs issue", team_key="OPS")
    client.force_login(viewer)
    body = client.get(reverse("search") + "?q=agent&project=apollo").content.decode()
    assert "mine-agent" in body
    assert "theirs-agent" not in body and "OPS-1" not in body


def test_it_leaves_out_issues_of_unmapped_teams(client, viewer, project):
    search_seed.linear_issue(None, "SEC-9", "Secret payments work", team_key="SEC")
    client.force_login(viewer)
    body = client.get(reverse("search") + "?q=payments").content.decode()
    assert "SEC-9" not in body and "Nothing matches" in body


def test_a_short_query_asks_for_more(client, viewer, project):
    seed.agent(project, "a-agent")
    client.force_login(viewer)
    body = client.get(reverse("search") + "?q=a").content.decode()
    assert "Type at least 2 characters" in body and "a-agent" not in body


def test_htmx_gets_only_the_results(client, viewer, project):
    seed.agent(project, "fixer")
    client.force_login(viewer)
    r = client.get(reverse("search") + "?q=fix", HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert "<html" not in body and 'class="search-hit"' in body and "fixer" in body


@pytest.mark.parametrize("n", [3, 30])
def test_its_query_count_does_not_grow_with_matches(
        client, viewer, project, django_assert_max_num_queries, n):
    for i in range(n):
        seed.agent(project, f"fixer-{i}")
        search_seed.linear_issue(project, f"ENG-{i + 1}", f"fixer issue {i}")
        search_seed.alert(project, f"fixer alert {i}")
    client.force_login(viewer)
    client.get(reverse("search") + "?q=fixer")
    with django_assert_max_num_queries(12):
        r = client.get(reverse("search") + "?q=fixer", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r.content.decode().count('class="search-hit"') == 3 * min(n, 6)
