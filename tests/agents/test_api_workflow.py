"""POST /agents/{id}/workflow and /workflow/signal: steps fed one at a time, stored durably."""

from __future__ import annotations

import pytest

from apps.agents.models import AgentTask, StepStatus, TaskStatus, Workflow, WorkflowStatus

pytestmark = pytest.mark.django_db


def start(api, agent, steps):
    return api.post(f"/api/v1/agents/{agent.pk}/workflow", {"name": "release", "steps": steps},
                    format="json")


def signal(api, agent, name):
    return api.post(f"/api/v1/agents/{agent.pk}/workflow/signal", {"signal": name}, format="json")


def complete(api, agent):
    return api.post(f"/api/v1/agents/{agent.pk}/complete", {"result": "ok"}, format="json")


def test_it_feeds_steps_one_at_a_time_with_an_approval(api, agent):
    r = start(api, agent, [{"title": "build"}, {"kind": "approval", "title": "ship it?"},
                           {"title": "deploy", "priority": 1}])
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "running" and body["steps"][0]["status"] == "active"
    assert AgentTask.objects.filter(agent=agent).count() == 1  # only the first step so far
    complete(api, agent)
    wf = api.get(f"/api/v1/agents/{agent.pk}/workflow").json()
    assert wf["status"] == "waiting" and wf["position"] == 1
    assert AgentTask.objects.filter(agent=agent).count() == 1
    r = signal(api, agent, "approve")
    assert r.json()["status"] == "running" and r.json()["position"] == 2
    deploy = AgentTask.objects.get(title="deploy")
    assert deploy.status == TaskStatus.IN_PROGRESS and deploy.priority == 1
    complete(api, agent)
    wf = Workflow.objects.get()
    assert wf.status == WorkflowStatus.COMPLETED
    assert all(s.status == StepStatus.DONE for s in wf.steps.all())


def test_pause_holds_the_next_step_until_resume(api, agent):
    start(api, agent, [{"title": "one"}, {"title": "two"}])
    assert signal(api, agent, "pause").json()["status"] == "paused"
    complete(api, agent)
    assert not AgentTask.objects.filter(title="two").exists()
    r = signal(api, agent, "resume")
    assert r.json()["status"] == "running"
    assert AgentTask.objects.get(title="two").status == TaskStatus.IN_PROGRESS


def test_cancel_stops_feeding(api, agent):
    start(api, agent, [{"title": "one"}, {"title": "two"}])
    assert signal(api, agent, "cancel").json()["status"] == "cancelled"
    complete(api, agent)
    assert not AgentTask.objects.filter(title="two").exists()
    assert signal(api, agent, "resume").status_code == 400  # nothing active any more


def test_a_failed_step_pauses_and_resume_retries(api, agent):
    start(api, agent, [{"title": "flaky"}])
    task = AgentTask.objects.get()
    api.patch(f"/api/v1/agents/{agent.pk}/tasks/{task.pk}", {"status": "failed", "error": "x"},
              format="json")
    assert Workflow.objects.get().status == WorkflowStatus.PAUSED
    signal(api, agent, "resume")
    assert AgentTask.objects.filter(title="flaky").count() == 2


def test_it_validates_workflows_and_signals(api, agent):
    r = start(api, agent, [])
    assert r.status_code == 400 and "steps" in r.json()["details"]
    r = start(api, agent, [{"kind": "dance"}])
    assert r.status_code == 400
    assert signal(api, agent, "approve").status_code == 400  # no workflow
    start(api, agent, [{"title": "one"}])
    assert start(api, agent, [{"title": "again"}]).status_code == 400  # one active at a time
    assert signal(api, agent, "approve").status_code == 400  # not waiting for approval
    assert signal(api, agent, "jump").status_code == 400
    assert Workflow.objects.count() == 1
