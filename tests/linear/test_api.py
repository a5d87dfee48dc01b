from __future__ import annotations

from apps.linear.models import LinearIssue


def test_it_lists_the_projects_issues_with_a_key(mapping, api):
    r = api.get("/api/v1/linear/issues")
    assert r.status_code == 200
    body = r.json()
    assert len(body["results"]) == 24
    first = body["results"][0]
    assert {
        "identifier",
        "title",
        "state",
        "assignee",
        "labels",
        "priority",
        "estimate",
        "url",
    } <= set(first)


def test_it_paginates_with_a_cursor(mapping, api):
    r = api.get("/api/v1/linear/issues?limit=10")
    body = r.json()
    assert len(body["results"]) == 10 and body["next"]
    seen = {i["id"] for i in body["results"]}
    page2 = api.get(body["next"]).json()
    assert seen.isdisjoint({i["id"] for i in page2["results"]})


def test_it_filters_by_state_and_assignee(mapping, api, fake_linear):
    done = api.get("/api/v1/linear/issues?state=Done").json()["results"]
    assert done and all(i["state"]["name"] == "Done" for i in done)
    user = fake_linear.users[1]
    mine = api.get(f"/api/v1/linear/issues?assignee={user['email']}").json()["results"]
    assert mine and all(i["assignee"]["id"] == user["id"] for i in mine)


def test_it_filters_by_agent(mapping, api, project):
    from apps.agents.models import Agent, AgentTask

    agent = Agent.objects.create(project=project, name="coder")
    issue = LinearIssue.objects.order_by("id").first()
    AgentTask.objects.create(
        project=project, agent=agent, title="x", linear_issue_id=issue.linear_id
    )
    results = api.get(f"/api/v1/linear/issues?agent={agent.pk}").json()["results"]
    assert [i["id"] for i in results] == [issue.pk]


def test_another_projects_key_sees_nothing(mapping, other_project, anon_api):
    from tests.conftest import make_key

    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(other_project)}")
    assert anon_api.get("/api/v1/linear/issues").json()["results"] == []


def test_it_requires_authentication(anon_api, db):
    assert anon_api.get("/api/v1/linear/issues").status_code in (401, 403)


def test_a_member_filters_by_project(mapping, client, viewer, project):
    client.force_login(viewer)
    r = client.get(f"/api/v1/linear/issues?project={project.slug}")
    assert r.status_code == 200 and len(r.json()["results"]) == 24
    assert client.get("/api/v1/linear/issues?project=nope").status_code == 404
