from __future__ import annotations

import pytest
from django.urls import reverse

from tests.realtime import seed

pytestmark = pytest.mark.django_db


def test_it_lists_filters_and_searches(client, viewer, project):
    seed.agent(project, "alpha", status="working")
    seed.agent(project, "beta", status="blocked", reason="waiting for review")
    seed.agent(project, "gamma", status="error", kind="codex")
    client.force_login(viewer)
    url = reverse("agents-list")
    body = client.get(url).content.decode()
    assert "3 agents" in body and "alpha" in body and "gamma" in body
    body = client.get(url + "?status=blocked").content.decode()
    assert "beta" in body and "alpha" not in body
    body = client.get(url + "?status=attention").content.decode()
    assert "beta" in body and "gamma" in body and "alpha" not in body
    body = client.get(url + "?kind=codex").content.decode()
    assert "gamma" in body and "beta" not in body
    body = client.get(url + "?q=review").content.decode()  # searches name, model, session, task
    assert "No agents match these filters" in body


def test_it_ignores_bad_filters(client, viewer, project):
    seed.agent(project, "alpha")
    client.force_login(viewer)
    r = client.get(reverse("agents-list") + "?status=nope&kind=%00&sort=drop&page=-3")
    assert r.status_code == 200 and "alpha" in r.content.decode()


def test_it_sorts_and_paginates(client, viewer, project):
    seed.many(project, 60)
    client.force_login(viewer)
    url = reverse("agents-list")
    body = client.get(url + "?sort=name").content.decode()
    assert "Page 1 of 2" in body and "agent-000" in body and "agent-059" not in body
    assert 'href="?project=all&amp;sort=name&amp;page=2"' in body  # a real link without JS
    body = client.get(url + "?sort=-name").content.decode()
    assert "agent-059" in body and "agent-000" not in body
    body = client.get(url + "?sort=name&page=2").content.decode()
    assert "agent-059" in body and "agent-000" not in body


def test_htmx_gets_only_the_live_region(client, viewer, project):
    seed.agent(project, "alpha")
    client.force_login(viewer)
    r = client.get(reverse("agents-list") + "?q=alp", HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert body.lstrip().startswith('<div id="agents-live"') and "<html" not in body
    assert 'ws-connect="/ws/agents/?project=all&amp;q=alp' in body


def test_its_poll_partial_is_the_table_body(client, viewer, project):
    a = seed.agent(project, "alpha")
    client.force_login(viewer)
    body = client.get(reverse("agents-list") + "?partial=rows").content.decode()
    assert body.lstrip().startswith('<tbody id="agents-tbody"') and "data-snapshot" in body
    assert f'id="agent-row-{a.pk}"' in body


def test_it_refuses_outsiders(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("agents-list")).status_code == 403


@pytest.mark.parametrize("n", [5, 50])
def test_its_query_count_does_not_grow_with_agents(
    client, viewer, project, django_assert_max_num_queries, n
):
    agents = seed.many(project, n)
    for a in agents[::4]:
        seed.agent(project, f"{a.name}-sub", parent=a)
    client.force_login(viewer)
    client.get(reverse("agents-list"))
    with django_assert_max_num_queries(12):
        r = client.get(reverse("agents-list") + "?sort=heartbeat")
    assert r.status_code == 200


def test_it_filters_by_model_and_pages_keep_the_filters(client, viewer, project):
    for i in range(55):
        seed.agent(project, f"opus-{i:02}", model="claude-opus-4")
    seed.agent(project, "sonnet-1", model="claude-sonnet-4-5")
    client.force_login(viewer)
    url = reverse("agents-list")
    body = client.get(url + "?model=claude-sonnet-4-5").content.decode()
    assert "1 agent<" in body and "sonnet-1" in body and "opus-00" not in body
    assert '<option value="claude-sonnet-4-5" selected>' in body
    body = client.get(url + "?model=claude-opus-4&kind=claude-code&sort=name").content.decode()
    assert "55 agents" in body
    assert 'href="?project=all&amp;kind=claude-code&amp;model=claude-opus-4&amp;sort=name&amp;page=2"' in body
    body = client.get(url + "?model=claude-opus-4&sort=name&page=2").content.decode()
    assert "opus-54" in body and "sonnet-1" not in body


def test_an_unknown_model_matches_nothing_and_says_so(client, viewer, project):
    seed.agent(project, "alpha", model="claude-opus-4")
    client.force_login(viewer)
    r = client.get(reverse("agents-list") + "?model=" + "x" * 400)
    body = r.content.decode()
    assert r.status_code == 200 and "No agents match these filters" in body
    assert "Clear filters" in body
