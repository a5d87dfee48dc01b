from __future__ import annotations

from django.conf import settings

from apps.linear import tasks
from apps.linear.models import LinearConnection, LinearIssue, SyncKind, SyncRun, SyncStatus


def test_the_full_sync_task_resumes_from_its_cursor_after_a_failure(linear_conn, fake_linear):
    for n in range(600):
        fake_linear.add_issue(fake_linear.teams[0], f"Extra {n}")
    fake_linear.fail_requests = {3}  # workspace, issues page 1, then Linear has a bad moment
    tasks.full_sync.apply()  # eager: Celery's retry runs again at once
    run = SyncRun.objects.get()
    assert run.status == SyncStatus.OK and run.attempts == 2
    assert LinearIssue.objects.count() == 624
    # 1 workspace + page 1 + the failed page 2, then pages 2 and 3 only: no restart
    assert fake_linear.handled == 5
    assert any("LinearUnavailable" in e["message"] for e in run.log)


def test_the_incremental_task_starts_a_full_sync_when_never_synced(
    linear_conn, fake_linear, django_capture_on_commit_callbacks
):
    tasks.incremental_sync.apply()
    # without a watermark it queues a full sync instead of an incremental run
    assert not SyncRun.objects.filter(kind=SyncKind.INCREMENTAL).exists()


def test_the_incremental_task_syncs_changes(mapping, fake_linear):
    fake_linear.touch(fake_linear.issues[0], title="Changed for the beat")
    tasks.incremental_sync.apply()
    run = SyncRun.objects.filter(kind=SyncKind.INCREMENTAL).get()
    assert run.status == SyncStatus.OK and run.counts["issues"] == 1
    assert LinearConnection.get().last_sync_at >= run.started_at


def test_the_incremental_task_does_nothing_without_a_key(db, settings):
    settings.LINEAR_API_KEY = ""
    tasks.incremental_sync.apply()
    assert not SyncRun.objects.exists()


def test_a_bad_key_is_logged_not_retried_forever(linear_conn, fake_linear):
    fake_linear.api_key = "rotated"
    tasks.full_sync.apply()
    run = SyncRun.objects.get()
    assert run.status == SyncStatus.FAILED and "LinearAuthError" in run.error
    assert run.attempts == 1  # a refused key is not retried
    assert "LinearAuthError" in LinearConnection.get().last_error


def test_beat_runs_the_incremental_sync():
    entry = settings.CELERY_BEAT_SCHEDULE["linear-incremental-sync"]
    assert entry["task"] == "linear.incremental_sync"
    assert entry["schedule"] == settings.LINEAR_SYNC_INTERVAL_SECONDS
