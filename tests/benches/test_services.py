"""Suites: validation, the nightly schedule, baselines; the schedule sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.agents.models import AgentEvent
from apps.benches import services
from apps.benches.models import Endpoint, Run, RunState, Suite

pytestmark = pytest.mark.django_db


def test_levels_are_sorted_and_deduplicated(suite):
    suite.concurrency_levels = [8, 1, 4, 1]
    services.suite_save(suite=suite, actor=None)
    assert Suite.objects.get().concurrency_levels == [1, 4, 8]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("concurrency_levels", [], "at least one"),
    ("concurrency_levels", [0, 2], "above 0"),
    ("concurrency_levels", [1.5], "whole number"),
    ("concurrency_levels", ["x"], "not a number"),
    ("concurrency_levels", list(range(1, 40)), "At most 16"),
    ("requests_per_level", 0, "Between 1"),
    ("timeout_s", 0, "Between 0.1"),
    ("slo_ttft_ms", -5, "Above 0"),
    ("schedule_hour", 24, "0 to 23"),
])
def test_it_refuses_bad_settings_with_a_message(suite, field, value, message):
    setattr(suite, field, value)
    with pytest.raises(ValidationError) as refused:
        services.suite_save(suite=suite, actor=None)
    assert message in " ".join(refused.value.message_dict[field])


def test_a_model_is_needed_when_the_endpoint_has_none(suite, endpoint):
    Endpoint.objects.filter(pk=endpoint.pk).update(default_model="")
    suite.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        services.suite_save(suite=suite, actor=None)
    assert "model" in refused.value.message_dict


def test_an_endpoint_of_another_project_is_refused(suite, other_project, endpoint):
    foreign = Endpoint.objects.create(project=other_project, name="x", base_url=endpoint.base_url)
    suite.endpoint = foreign
    with pytest.raises(ValidationError):
        services.suite_save(suite=suite, actor=None)


def test_parse_levels():
    assert services.parse_levels("1, 2,4 8") == [1, 2, 4, 8]
    assert services.parse_levels("0.5,1", kind=float) == [0.5, 1.0]
    with pytest.raises(ValidationError):
        services.parse_levels("1,two")


def test_next_nightly():
    at = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
    assert services.next_nightly(3, after=at) == datetime(2026, 12, 7, 3, tzinfo=UTC)
    assert services.next_nightly(2, after=at) == datetime(2026, 12, 8, 2, tzinfo=UTC)


def test_a_nightly_suite_gets_its_next_run_time(suite):
    suite.schedule, suite.schedule_hour = "nightly", 4
    services.suite_save(suite=suite, actor=None)
    due = Suite.objects.get().next_run_at
    assert due.hour == 4 and due > timezone.now()
    suite.schedule = ""
    services.suite_save(suite=suite, actor=None)
    assert Suite.objects.get().next_run_at is None


def test_only_a_finished_run_of_the_same_endpoint_and_model_is_a_baseline(suite, endpoint):
    run = Run.objects.create(project=suite.project, endpoint=endpoint, model="other",
                             state=RunState.FINISHED)
    with pytest.raises(ValidationError):
        services.baseline_pin(suite=suite, run=run, actor=None)
    run.model = suite.effective_model
    run.state = RunState.FAILED
    run.save()
    with pytest.raises(ValidationError):
        services.baseline_pin(suite=suite, run=run, actor=None)
    run.state = RunState.FINISHED
    run.save()
    services.baseline_pin(suite=suite, run=run, actor=None)
    assert Suite.objects.get().baseline_id == run.pk
    services.baseline_pin(suite=suite, run=None, actor=None)
    assert Suite.objects.get().baseline_id is None


# --- the schedule sweep ------------------------------------------------------------------
def _due(suite) -> Suite:
    suite.schedule = "nightly"
    services.suite_save(suite=suite, actor=None)
    Suite.objects.filter(pk=suite.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    return Suite.objects.get(pk=suite.pk)


def test_a_due_suite_starts_and_is_scheduled_for_the_next_night(suite):
    # The sweep at the suite's hour, whatever the time of day the test runs at (at 02:16 UTC
    # "an hour from now" was already past the next 03:00).
    suite = _due(suite)
    hour = suite.schedule_hour
    now = timezone.now().replace(hour=hour, minute=0, second=30, microsecond=0)
    Suite.objects.filter(pk=suite.pk).update(next_run_at=now - timedelta(minutes=1))
    assert services.schedule_sweep(now=now)["started"] == 1
    run = Run.objects.get()
    assert run.trigger == "schedule" and run.state == RunState.QUEUED
    assert Suite.objects.get().next_run_at == now.replace(second=0) + timedelta(days=1)
    assert services.schedule_sweep(now=now)["started"] == 0  # not twice


def test_a_busy_endpoint_is_skipped_and_tried_again_later(suite, fake, settings):
    _due(suite)
    fake.configure(foreign=2)
    now = timezone.now()
    assert services.schedule_sweep(now=now)["skipped"] == 1
    assert not Run.objects.exists()
    retry = Suite.objects.get().next_run_at
    assert retry == now + timedelta(seconds=settings.BENCH_SCHEDULE_RETRY_SECONDS)
    skipped = AgentEvent.objects.get(kind="bench.run.skipped")
    assert "elsewhere" in skipped.data["reason"]

    fake.configure(foreign=0)
    assert services.schedule_sweep(now=retry + timedelta(seconds=1))["started"] == 1


def test_a_run_whose_worker_died_fails_and_frees_the_endpoint(suite):
    run = services.run_start(suite=suite, actor=None)
    stale = timezone.now() - timedelta(minutes=10)
    Run.objects.filter(pk=run.pk).update(state=RunState.RUNNING, heartbeat_at=stale)
    assert services.schedule_sweep()["lost"] == 1
    run.refresh_from_db()
    assert run.state == RunState.FAILED and "stopped" in run.error
    assert Endpoint.objects.get().lease_run_id is None
