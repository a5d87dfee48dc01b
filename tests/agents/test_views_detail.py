from __future__ import annotations

import pytest
from django.urls import reverse

from tests.realtime import seed

pytestmark = pytest.mark.django_db


def test_it_shows_the_trace_grouped_by_turn(client, viewer, project):
    a = seed.agent(project, "tracer", status="working")
    seed.traced_session(a)
    client.force_login(viewer)
    body = client.get(reverse("agent-detail", args=[a.pk])).content.decode()
    for turn in (1, 2, 3):
        assert f'id="turn-{a.pk}-{turn}"' in body
    # Newest turn first.
    assert body.index(f'id="turn-{a.pk}-3"') < body.index(f'id="turn-{a.pk}-1"')
    # Latency classes: 120 ms fast, 3.2 s slow, 7.4 s bad.
    assert 'class="wf-row span lat-fast"' in body and 'class="wf-row span lat-slow"' in body
    assert 'class="wf-row span lat-bad"' in body and "7.4 s" in body
    assert 'class="wf-row span lat-fast is-error"' in body
    # Session cache hit rate: cache 41000 of prompt 47500.
    assert "86.3%" in body
    # Rows link to the span's drawer; payloads are read there, not on the page.
    assert f'hx-get="/agents/{a.pk}/spans/' in body and "output of step 0" not in body
    assert "Fix the flaky checkout test" in body  # the tasks panel


def test_it_shows_actions_to_admins_only(client, viewer, admin_user, project):
    a = seed.agent(project, "worker", status="blocked", reason="permission prompt")
    client.force_login(viewer)
    assert (
        'value="unblock"' not in client.get(reverse("agent-detail", args=[a.pk])).content.decode()
    )
    client.force_login(admin_user)
    body = client.get(reverse("agent-detail", args=[a.pk])).content.decode()
    assert 'value="unblock"' in body and "Assign task" in body and "Send signal" in body


def test_viewers_cannot_act(client, viewer, project):
    a = seed.agent(project, "worker", status="blocked")
    client.force_login(viewer)
    r = client.post(reverse("agent-action", args=[a.pk]), {"action": "unblock"})
    assert r.status_code == 403
    a.refresh_from_db()
    assert a.status == "blocked"


def test_admins_unblock_through_the_service(client, admin_user, project):
    a = seed.agent(project, "worker", status="blocked", reason="permission prompt")
    client.force_login(admin_user)
    r = client.post(reverse("agent-action", args=[a.pk]), {"action": "unblock"})
    assert r.status_code == 302
    a.refresh_from_db()
    assert a.status != "blocked"
    assert a.commands.filter(action="unblock").exists()


def test_admins_assign_a_task(client, admin_user, project):
    a = seed.agent(project, "worker")
    client.force_login(admin_user)
    client.post(reverse("agent-assign", args=[a.pk]), {"title": "Write docs", "priority": "2"})
    assert a.tasks.filter(title="Write docs", priority=2).exists()
    r = client.post(reverse("agent-assign", args=[a.pk]), {"title": "  "}, follow=True)
    assert "A task needs a title." in r.content.decode()


def test_admins_start_a_workflow_and_signal_it(client, admin_user, project):
    a = seed.agent(project, "worker")
    client.force_login(admin_user)
    client.post(
        reverse("agent-workflow", args=[a.pk]),
        {"name": "release", "steps": "Write the test\napprove: ship it?\nShip"},
    )
    wf = a.workflows.get()
    assert [s.kind for s in wf.steps.order_by("position")] == ["task", "approval", "task"]
    r = client.post(reverse("agent-signal", args=[a.pk]), {"signal": "bogus"}, follow=True)
    assert "Unknown signal" in r.content.decode()
    client.post(reverse("agent-signal", args=[a.pk]), {"signal": "pause"})
    wf.refresh_from_db()
    assert wf.status == "paused"


def test_bad_action_input_is_an_error_not_a_500(client, admin_user, project):
    a = seed.agent(project, "worker")
    client.force_login(admin_user)
    r = client.post(reverse("agent-action", args=[a.pk]), {"action": "explode"}, follow=True)
    assert r.status_code == 200 and "Unknown action." in r.content.decode()


def test_it_404s_for_unknown_agents(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("agent-detail", args=[999999])).status_code == 404


def test_its_live_partial_holds_every_live_region(client, viewer, project):
    a = seed.agent(project, "tracer")
    seed.traced_session(a)
    client.force_login(viewer)
    body = client.get(reverse("agent-detail", args=[a.pk]) + "?partial=live").content.decode()
    # Turns come one by one, versioned: a snapshot replaces changed turns and adds new ones,
    # and leaves older turns the reader paged in alone.
    assert 'id="trace-turns"' not in body
    for turn in (1, 2, 3):
        assert f'id="turn-{a.pk}-{turn}" class="turn" data-version=' in body
    assert 'data-live-insert="#trace-turns"' in body
    for element in (
        "agent-head",
        "trace-summary",
        "trace-strip",
        "agent-tasks",
        "agent-tree",
        "timeline",
    ):
        assert f'id="{element}"' in body
    assert "<html" not in body


def test_it_shows_the_sub_agent_tree(client, viewer, project):
    root = seed.agent(project, "root")
    child = seed.agent(project, "child", parent=root)
    seed.agent(project, "grandchild", parent=child)
    client.force_login(viewer)
    body = client.get(reverse("agent-detail", args=[root.pk])).content.decode()
    tree = body[body.index('id="agent-tree"') :]
    assert tree.index("child") < tree.index("grandchild")
