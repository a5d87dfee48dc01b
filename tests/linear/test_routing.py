from __future__ import annotations

import pytest

from apps.agents.models import Agent, AgentStatus, AgentTask, TaskStatus
from apps.agents.services import task_complete
from apps.linear.models import (
    LinearIssue,
    LinearLabel,
    LinearWorkflowState,
    RoutingRule,
    RoutingTarget,
)
from apps.linear.routing import assign_waiting, issue_route
from apps.linear.services import issue_complete_in_linear


@pytest.fixture
def pool(mapping, project):
    a = Agent.objects.create(project=project, name="alpha", status=AgentStatus.IDLE)
    b = Agent.objects.create(project=project, name="beta", status=AgentStatus.IDLE)
    rule = RoutingRule.objects.create(
        name="agent label",
        label=LinearLabel.objects.get(name="agent"),
        complete_state=LinearWorkflowState.objects.get(name="In Review"),
    )
    RoutingTarget.objects.create(rule=rule, agent=a, capacity=1)
    RoutingTarget.objects.create(rule=rule, agent=b, capacity=1)
    return rule, a, b


def _agent_issues() -> list[LinearIssue]:
    return list(
        LinearIssue.objects.filter(
            labels__name="agent", state__type__in=["backlog", "unstarted", "started"]
        ).order_by("id")
    )


def test_matching_issues_go_to_the_least_loaded_agent(pool):
    rule, a, b = pool
    first, second = _agent_issues()[:2]
    t1 = issue_route(issue=first)
    t2 = issue_route(issue=second)
    assert {t1.agent, t2.agent} == {a, b}
    assert t1.linear_issue_id == first.linear_id and t1.title.startswith(first.identifier)


def test_it_waits_when_no_agent_is_free_and_assigns_later(pool):
    rule, a, b = pool
    issues = _agent_issues()[:3]
    for i in issues:
        issue_route(issue=i)
    waiting = LinearIssue.objects.get(pk=issues[2].pk)
    assert waiting.route_waiting_since is not None and waiting.route_rule == rule
    assert not AgentTask.objects.filter(linear_issue_id=waiting.linear_id).exists()
    task = AgentTask.objects.get(linear_issue_id=issues[0].linear_id)
    task_complete(task=task, result="done")
    assert assign_waiting() == 1
    assert AgentTask.objects.filter(linear_issue_id=waiting.linear_id).exists()
    assert LinearIssue.objects.get(pk=waiting.pk).route_waiting_since is None


def test_sleeping_and_blocked_agents_get_nothing(pool):
    rule, a, b = pool
    Agent.objects.filter(pk=a.pk).update(status=AgentStatus.SLEEPING)
    Agent.objects.filter(pk=b.pk).update(status=AgentStatus.BLOCKED)
    issue = _agent_issues()[0]
    assert issue_route(issue=issue) is None
    assert LinearIssue.objects.get(pk=issue.pk).route_waiting_since is not None


def test_non_matching_and_closed_issues_are_left_alone(pool):
    plain = LinearIssue.objects.exclude(labels__name="agent").first()
    assert issue_route(issue=plain) is None
    done = LinearIssue.objects.filter(labels__name="agent", state__type="completed").first()
    if done is not None:
        assert issue_route(issue=done) is None
    assert LinearIssue.objects.filter(route_waiting_since__isnull=False).count() == 0


def test_routing_is_idempotent(pool):
    issue = _agent_issues()[0]
    issue_route(issue=issue)
    issue_route(issue=issue)
    assert AgentTask.objects.filter(linear_issue_id=issue.linear_id).count() == 1


def test_priority_rule(mapping, project):
    agent = Agent.objects.create(project=project, name="urgent-bot")
    rule = RoutingRule.objects.create(name="urgent", priority=1)
    RoutingTarget.objects.create(rule=rule, agent=agent, capacity=5)
    urgent = LinearIssue.objects.filter(priority=1).first()
    low = LinearIssue.objects.filter(priority=4).first()
    assert issue_route(issue=urgent) is not None
    assert issue_route(issue=low) is None


def test_completion_moves_the_issue_and_comments(pool, fake_linear):
    issue = _agent_issues()[0]
    task = issue_route(issue=issue)
    task_complete(task=task, result="Fixed in PR #42")
    assert issue_complete_in_linear(task_id=task.pk) == ["moved", "commented"]
    remote = fake_linear.issues_by_id[issue.linear_id]
    assert remote["state"]["name"] == "In Review"
    assert fake_linear.comments[-1]["issueId"] == issue.linear_id
    assert "Fixed in PR #42" in fake_linear.comments[-1]["body"]
    assert LinearIssue.objects.get(pk=issue.pk).state.name == "In Review"


def test_the_reactor_runs_completion_through_celery(pool, fake_linear, celery_worker):
    from tests.support import wait_for

    issue = _agent_issues()[0]
    task = issue_route(issue=issue)
    task_complete(task=task, result="All green")
    wait_for(
        lambda: any("All green" in c["body"] for c in fake_linear.comments),
        timeout=20,
        message="the completion comment",
    )
    assert AgentTask.objects.get(pk=task.pk).status == TaskStatus.COMPLETED


def test_new_issues_from_a_webhook_are_routed(pool, fake_linear, celery_worker, settings, client):
    from tests.linear.fake_linear import FakeLinear
    from tests.support import wait_for

    settings.LINEAR_WEBHOOK_SECRET = "s"
    label = next(x for x in fake_linear.labels if x["name"] == "agent")
    new = fake_linear.add_issue(fake_linear.teams[0], "Route me", labels=[label])
    body, headers = FakeLinear.signed(
        fake_linear.envelope("Issue", "create", fake_linear.issue_payload(new)), "s"
    )
    client.post(
        "/api/v1/linear/webhook",
        data=body,
        content_type="application/json",
        HTTP_LINEAR_SIGNATURE=headers["Linear-Signature"],
        HTTP_LINEAR_DELIVERY=headers["Linear-Delivery"],
    )
    task = wait_for(
        lambda: AgentTask.objects.filter(linear_issue_id=new["id"]).first(),
        timeout=20,
        message="the routed task",
    )
    assert task.agent.name in ("alpha", "beta")


def test_routing_pages(pool, client, admin_user, viewer):
    rule, a, b = pool
    client.force_login(admin_user)
    html = client.get("/settings/integrations/linear/routing/").content.decode()
    assert "agent label" in html and "alpha" in html
    r = client.post(
        "/settings/integrations/linear/routing/new/",
        {
            "name": "Bugs",
            "enabled": "on",
            "order": 5,
            "priority": "2",
            "comment_on_complete": "on",
            "targets-TOTAL_FORMS": "1",
            "targets-INITIAL_FORMS": "0",
            "targets-MIN_NUM_FORMS": "1",
            "targets-MAX_NUM_FORMS": "1000",
            "targets-0-agent": a.pk,
            "targets-0-capacity": "2",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    created = RoutingRule.objects.get(name="Bugs")
    assert created.priority == 2 and created.targets.get().capacity == 2
    r = client.post(
        "/settings/integrations/linear/routing/new/",
        {
            "name": "No agents",
            "order": 5,
            "targets-TOTAL_FORMS": "1",
            "targets-INITIAL_FORMS": "0",
            "targets-MIN_NUM_FORMS": "1",
            "targets-MAX_NUM_FORMS": "1000",
        },
    )
    assert r.status_code == 200 and not RoutingRule.objects.filter(name="No agents").exists()
    client.post(f"/settings/integrations/linear/routing/{created.pk}/delete/")
    assert not RoutingRule.objects.filter(pk=created.pk).exists()
    client.force_login(viewer)
    assert client.get("/settings/integrations/linear/routing/").status_code == 403
