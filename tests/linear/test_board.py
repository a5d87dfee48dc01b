from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.linear.models import LinearIssue, LinearWorkflowState
from apps.linear.services import issue_push_state


def _state(name: str) -> LinearWorkflowState:
    return LinearWorkflowState.objects.get(name=name)


def test_it_shows_columns_in_linears_order(mapping, client, viewer):
    client.force_login(viewer)
    r = client.get("/board/")
    assert r.status_code == 200
    html = r.content.decode()
    order = [
        html.index(f'aria-label="{n}"')
        for n in ("Backlog", "Todo", "In Progress", "In Review", "Done", "Canceled")
    ]
    assert order == sorted(order)
    assert "ENG-1" in html and 'ws-connect="/ws/board/?board=' in html
    # viewers cannot drag
    assert 'draggable="true"' not in html


def test_admins_get_draggable_cards(mapping, client, admin_user):
    client.force_login(admin_user)
    assert 'draggable="true"' in client.get("/board/").content.decode()


def test_it_shows_an_empty_state_without_mappings(db, client, viewer):
    client.force_login(viewer)
    r = client.get("/board/")
    assert r.status_code == 200 and "No board yet" in r.content.decode()


def test_it_requires_login(client, db):
    assert client.get("/board/").status_code == 302


def test_outsiders_are_refused(client, outsider):
    client.force_login(outsider)
    assert client.get("/board/").status_code == 403


def test_query_count_does_not_grow_with_cards(mapping, client, viewer, fake_linear):
    from apps.linear import sync
    from apps.linear.models import SyncKind

    client.force_login(viewer)
    client.get("/board/")  # session and last-seen writes happen on the first request
    with CaptureQueriesContext(connection) as small:
        client.get("/board/")
    for n in range(60):
        fake_linear.add_issue(
            fake_linear.teams[0],
            f"More {n}",
            labels=fake_linear.labels[:2],
            assignee=fake_linear.users[n % 3],
        )
    run = sync.start_run(SyncKind.FULL)
    sync.full_sync(run, sync.client_for(run))
    with CaptureQueriesContext(connection) as big:
        client.get("/board/")
    assert len(big.captured_queries) == len(small.captured_queries)


def test_filters_narrow_the_cards(mapping, client, viewer, fake_linear):
    from apps.linear.models import LinearLabel, LinearUser

    client.force_login(viewer)
    bug = LinearLabel.objects.get(name="Bug")
    html = client.get(f"/board/?label={bug.pk}").content.decode()
    with_bug = set(LinearIssue.objects.filter(labels=bug).values_list("identifier", flat=True))
    shown = {
        i for i in LinearIssue.objects.values_list("identifier", flat=True) if f">{i}<" in html
    }
    assert shown == with_bug
    ada = LinearUser.objects.get(name="Ada Lovelace")
    html = client.get(f"/board/?assignee={ada.pk}").content.decode()
    assert all(f">{i.identifier}<" in html for i in LinearIssue.objects.filter(assignee=ada))
    assert client.get("/board/?label=abc&cycle=-1").status_code == 200


def test_the_poll_partial_is_the_board(mapping, client, viewer):
    client.force_login(viewer)
    r = client.get(f"/board/?board={mapping.pk}&partial=board", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert html.lstrip().startswith(f'<div class="kanban" id="board-{mapping.pk}"')


def test_a_move_is_applied_at_once_and_confirmed_by_linear(
    mapping, client, admin_user, fake_linear
):
    client.force_login(admin_user)
    issue = LinearIssue.objects.get(identifier="ENG-2")
    before = issue.version
    target = _state("In Review")
    r = client.post(f"/board/issues/{issue.pk}/move/", {"state": target.pk})
    assert r.status_code == 200, r.content
    issue.refresh_from_db()
    assert issue.state == target and issue.pending_from_state is not None and issue.version > before
    issue_push_state(issue_id=issue.pk)  # the Celery task
    issue.refresh_from_db()
    assert issue.pending_from_state is None and issue.move_error == ""
    assert fake_linear.issues_by_id[issue.linear_id]["state"]["name"] == "In Review"


def test_a_refused_move_goes_back_with_the_reason(mapping, client, admin_user, fake_linear):
    client.force_login(admin_user)
    issue = LinearIssue.objects.get(identifier="ENG-2")
    original = issue.state
    done = _state("Done")
    fake_linear.refuse_states[done.linear_id] = "Issues need a linked pull request to be Done"
    client.post(f"/board/issues/{issue.pk}/move/", {"state": done.pk})
    version = LinearIssue.objects.get(pk=issue.pk).version
    issue_push_state(issue_id=issue.pk)
    issue.refresh_from_db()
    assert issue.state == original and issue.pending_from_state is None
    assert "linked pull request" in issue.move_error
    assert issue.version > version  # so the live card replaces the optimistic one
    html = client.get("/board/").content.decode()
    assert "linked pull request" in html


def test_a_move_to_another_teams_column_is_refused(mapping, client, admin_user, fake_linear):
    from apps.linear.models import LinearTeam

    other = LinearTeam.objects.create(linear_id="t2", key="OPS", name="Ops")
    foreign = LinearWorkflowState.objects.create(
        linear_id="s-x", team=other, name="X", type="started"
    )
    client.force_login(admin_user)
    issue = LinearIssue.objects.get(identifier="ENG-2")
    r = client.post(f"/board/issues/{issue.pk}/move/", {"state": foreign.pk})
    assert r.status_code == 400 and "another team" in r.json()["error"]
    assert client.post(f"/board/issues/{issue.pk}/move/", {"state": "x"}).status_code == 400
    assert client.post("/board/issues/999999/move/", {"state": foreign.pk}).status_code == 404


def test_viewers_cannot_move(mapping, client, viewer):
    client.force_login(viewer)
    issue = LinearIssue.objects.get(identifier="ENG-2")
    r = client.post(f"/board/issues/{issue.pk}/move/", {"state": _state("Done").pk})
    assert r.status_code == 403
    assert LinearIssue.objects.get(pk=issue.pk).state == issue.state


def test_manual_assign_creates_a_task(mapping, client, admin_user, project):
    from apps.agents.models import Agent, AgentTask

    agent = Agent.objects.create(project=project, name="coder-1")
    client.force_login(admin_user)
    issue = LinearIssue.objects.get(identifier="ENG-4")
    r = client.post(f"/board/issues/{issue.pk}/assign/", {"agent": agent.pk, "next": "/board/"})
    assert r.status_code == 302
    task = AgentTask.objects.get(linear_issue_id=issue.linear_id)
    assert task.agent == agent and task.title.startswith("ENG-4 ")
    # not twice
    client.post(f"/board/issues/{issue.pk}/assign/", {"agent": agent.pk})
    assert AgentTask.objects.filter(linear_issue_id=issue.linear_id).count() == 1
    html = client.get("/board/").content.decode()
    assert f'id="agentchip-{issue.pk}"' in html and "coder-1" in html
