from __future__ import annotations

import time

import pytest

from apps.linear import sync
from apps.linear.client import RateLimited, connection_client
from apps.linear.models import (
    LinearConnection,
    LinearIssue,
    LinearLabel,
    LinearTeam,
    LinearWorkflowState,
    SyncKind,
    SyncRun,
    SyncStatus,
)
from tests.linear.fake_linear import FakeLinear


def _full(conn=None) -> SyncRun:
    run = sync.start_run(SyncKind.FULL)
    return sync.full_sync(run, sync.client_for(run))


def test_it_copies_the_workspace(linear_conn, fake_linear):
    run = _full()
    assert run.status == SyncStatus.OK
    assert LinearTeam.objects.count() == 1
    assert LinearWorkflowState.objects.count() == 6
    assert LinearLabel.objects.count() == 3
    assert LinearIssue.objects.count() == 24
    issue = LinearIssue.objects.get(identifier="ENG-3")
    src = fake_linear.issues_by_id[issue.linear_id]
    assert issue.title == src["title"]
    assert issue.state.linear_id == src["state"]["id"]
    assert sorted(issue.labels.values_list("linear_id", flat=True)) == sorted(src["labelIds"])
    assert issue.assignee.linear_id == src["assignee"]["id"]
    conn = LinearConnection.get()
    assert conn.sync_watermark is not None and conn.last_full_sync_at is not None
    # Dependency order: workspace in one request, then one page of issues.
    assert run.requests == 2


def test_it_is_idempotent(linear_conn, fake_linear):
    _full()
    versions = dict(LinearIssue.objects.values_list("linear_id", "version"))
    run = _full()
    assert dict(LinearIssue.objects.values_list("linear_id", "version")) == versions
    assert run.counts["issues_changed"] == 0


def test_it_syncs_5000_issues_in_few_requests(db, settings):
    settings.LINEAR_API_KEY = ""
    from apps.linear import crypto

    fake = FakeLinear().seed(issues=5000, teams=2)
    with fake:
        conn = LinearConnection.get()
        conn.api_key_encrypted = crypto.encrypt(fake.api_key)
        conn.api_url = fake.url
        conn.save()
        started = time.monotonic()
        run = _full()
        elapsed = time.monotonic() - started
    assert LinearIssue.objects.count() == 5000
    assert run.requests == 21  # 1 workspace + 20 pages of 250
    assert len(fake.requests) == 21
    assert elapsed < 60


def test_it_resumes_from_its_cursor_after_a_failure(linear_conn, fake_linear):
    for n in range(600):
        fake_linear.add_issue(fake_linear.teams[0], f"Extra {n}")
    run = sync.start_run(SyncKind.FULL)
    client = connection_client()
    original = client.execute
    calls = {"n": 0}

    def flaky(document, variables=None):
        calls["n"] += 1
        if calls["n"] == 3:  # workspace, issues page 1, then the network dies
            from apps.linear.client import LinearUnavailable

            raise LinearUnavailable("connection reset")
        return original(document, variables)

    client.execute = flaky
    with pytest.raises(Exception, match="connection reset"):
        sync.full_sync(run, client)
    run.refresh_from_db()
    assert run.cursor["stage"] == "issues" and run.cursor["after"]
    assert LinearIssue.objects.count() == 250
    before = len(fake_linear.requests)
    sync.full_sync(run, connection_client())
    assert LinearIssue.objects.count() == 624
    # resumed at page 2: pages 2 and 3 only
    assert len(fake_linear.requests) - before == 2


def test_it_marks_issues_deleted_in_linear(synced, fake_linear):
    gone = fake_linear.issues.pop()
    fake_linear.issues_by_id.pop(gone["id"])
    _full()
    assert LinearIssue.objects.get(linear_id=gone["id"]).deleted_at is not None


def test_incremental_brings_only_changes(mapping, fake_linear):
    issue = fake_linear.issues[4]
    fake_linear.touch(
        issue, title="Renamed in Linear", state=fake_linear.state(fake_linear.teams[0], "Done")
    )
    new = fake_linear.add_issue(fake_linear.teams[0], "Brand new")
    before = len(fake_linear.requests)
    run = sync.incremental_sync(
        sync.start_run(SyncKind.INCREMENTAL),
        connection_client(),
        LinearConnection.get().sync_watermark,
    )
    assert len(fake_linear.requests) - before == 1  # one request per team
    assert run.counts["issues"] == 2
    assert LinearIssue.objects.get(linear_id=issue["id"]).title == "Renamed in Linear"
    assert LinearIssue.objects.get(linear_id=new["id"]).state.name == "Todo"
    from apps.agents.models import AgentEvent

    kinds = sorted(
        AgentEvent.objects.filter(project=mapping.project).values_list("kind", flat=True)
    )
    assert kinds == ["linear.issue.created", "linear.issue.updated"]


def test_incremental_with_nothing_changed_costs_one_request_per_team(mapping, fake_linear):
    before = len(fake_linear.requests)
    run = sync.incremental_sync(
        sync.start_run(SyncKind.INCREMENTAL),
        connection_client(),
        LinearConnection.get().sync_watermark,
    )
    assert len(fake_linear.requests) - before == 1
    assert run.counts.get("issues", 0) == 0


def test_it_waits_for_the_reset_after_a_429(linear_conn, fake_linear):
    fake_linear.ratelimit_next = 1
    fake_linear.rate_window = 0.5
    started = time.monotonic()
    run = _full()
    assert time.monotonic() - started >= 0.4
    assert run.status == SyncStatus.OK
    assert LinearIssue.objects.count() == 24
    assert any(r["limited"] for r in fake_linear.requests)
    messages = " ".join(e["message"] for e in SyncRun.objects.get(pk=run.pk).log)
    assert "Rate limited" in messages


def test_it_handles_ratelimited_graphql_errors(linear_conn, fake_linear):
    fake_linear.rate_limit_style = "graphql"
    fake_linear.ratelimit_next = 1
    fake_linear.rate_window = 0.5
    run = _full()
    assert run.status == SyncStatus.OK
    assert [r["limited"] for r in fake_linear.requests][:2] == [True, False]


def test_it_slows_down_before_the_limit(linear_conn, fake_linear):
    fake_linear.rate_limit = 100
    fake_linear.rate_remaining = 4
    fake_linear.rate_reset_at = time.time() + 0.5
    fake_linear.rate_window = 0.5
    notes: list[str] = []
    client = connection_client(on_note=notes.append)
    client.execute("query { viewer { id } }")
    client.execute("query { viewer { id } }")
    assert any("slowing down" in n for n in notes)
    assert not any(r["limited"] for r in fake_linear.requests)


def test_a_long_wait_is_handed_back_to_celery(linear_conn, fake_linear):
    fake_linear.rate_limit = 0
    fake_linear.rate_remaining = 0
    fake_linear.rate_reset_at = time.time() + 3600
    with pytest.raises(RateLimited) as info:
        connection_client().execute("query { viewer { id } }")
    assert info.value.wait_seconds > 3000
