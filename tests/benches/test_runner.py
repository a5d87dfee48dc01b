"""Bench runs end to end against the loopback fake: levels, samples, cancel, errors,
regressions, foreign traffic and the endpoint's lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.agents.models import AgentEvent
from apps.benches import services
from apps.benches.models import Endpoint, Run, RunLevel, RunState, Sample
from apps.benches.runner import run_execute

pytestmark = pytest.mark.django_db


def start(suite, **options) -> Run:
    config = services.suite_config(suite)
    return services.run_create(endpoint=suite.endpoint, model=suite.effective_model,
                               config=config, suite=suite, enqueue=False, **options)


def within(measured: float | None, truth: float) -> bool:
    assert measured is not None
    return abs(measured - truth) <= truth * 0.05 + 5


def test_it_runs_every_level_and_stores_samples_and_figures(suite, fake):
    run = start(suite)
    assert run.state == RunState.QUEUED
    assert Endpoint.objects.get().lease_run_id == run.pk

    run = run_execute(run_id=run.pk)

    assert run.state == RunState.FINISHED and run.error == ""
    levels = list(run.levels.order_by("index"))
    assert [lv.concurrency for lv in levels] == [1, 2]
    assert [lv.completed for lv in levels] == [4, 4]
    assert Sample.objects.filter(level__run=run).count() == 8
    first = levels[0].figures
    assert within(first["ttft_ms"]["p50"], 40) and within(first["itl_ms"]["p50"], 10)
    assert first["output_tokens_per_s"] > 0 and first["requests_per_s"] > 0
    sample = Sample.objects.filter(level=levels[0]).first()
    assert sample.output_tokens == 8 and len(sample.itl_ms) == 7
    assert sum(levels[0].itl_histogram["counts"]) == 4 * 7
    assert Endpoint.objects.get().lease_run_id is None  # let go at the end
    assert run.progress["done"] == 4
    assert AgentEvent.objects.filter(kind="bench.run.finished", data__run=run.pk).exists()


def test_it_measures_an_anthropic_endpoint(suite, endpoint):
    Endpoint.objects.filter(pk=endpoint.pk).update(kind="anthropic")
    suite.refresh_from_db()
    run = run_execute(run_id=start(suite).pk)
    assert run.state == RunState.FINISHED
    level = run.levels.first()
    assert level.completed == 4 and within(level.figures["ttft_ms"]["p50"], 40)


def test_request_rate_levels_send_at_the_rate(suite, fake):
    suite.mode, suite.request_rates, suite.requests_per_level = "rate", [20.0, 10.0], 6
    services.suite_save(suite=suite, actor=None)
    run = run_execute(run_id=start(suite).pk)
    assert run.state == RunState.FINISHED
    levels = list(run.levels.order_by("index"))
    assert [lv.rate for lv in levels] == [10.0, 20.0]
    starts = sorted(Sample.objects.filter(level=levels[0]).values_list("started_s", flat=True))
    assert starts[-1] == pytest.approx(0.5, abs=0.05)  # 6 requests at 10/s: the last at 0.5 s


def test_a_cancelled_run_keeps_its_finished_levels(suite):
    suite.concurrency_levels = [1, 2, 4]
    services.suite_save(suite=suite, actor=None)
    run = start(suite)

    def cancel_after_first(level: RunLevel) -> None:
        services.run_cancel(run=Run.objects.get(pk=run.pk), actor=None)

    run = run_execute(run_id=run.pk, on_level=cancel_after_first)

    assert run.state == RunState.CANCELLED
    assert list(run.levels.values_list("concurrency", flat=True)) == [1]
    assert Endpoint.objects.get().lease_run_id is None
    assert AgentEvent.objects.filter(kind="bench.run.cancelled").exists()


def test_cancel_midway_through_a_level_keeps_what_finished(suite, fake):
    fake.configure(itl_ms=40, tokens=10)  # ~0.4 s per request
    suite.concurrency_levels, suite.requests_per_level = [1], 20
    services.suite_save(suite=suite, actor=None)
    run = start(suite)
    seen: list[dict] = []

    def on_progress(progress: dict) -> None:
        seen.append(progress)
        if progress["done"] >= 2:
            Run.objects.filter(pk=run.pk).update(cancel_requested=True)  # as from another process

    run = run_execute(run_id=run.pk, on_progress=on_progress)

    assert run.state == RunState.CANCELLED
    level = run.levels.get()
    assert level.cancelled and 2 <= level.completed < 20
    assert Sample.objects.filter(level=level).count() == level.completed


def test_a_queued_run_cancelled_never_runs(suite):
    run = start(suite)
    services.run_cancel(run=run, actor=None)
    assert run_execute(run_id=run.pk) is None
    assert Run.objects.get(pk=run.pk).state == RunState.CANCELLED
    assert Endpoint.objects.get().lease_run_id is None


def test_a_run_is_taken_by_one_worker_only(suite):
    run = start(suite)
    assert run_execute(run_id=run.pk).state == RunState.FINISHED
    assert run_execute(run_id=run.pk) is None


def test_errors_are_counted_and_the_run_still_finishes(suite, fake):
    fake.configure(fail_every=2)
    run = run_execute(run_id=start(suite).pk)
    assert run.state == RunState.FINISHED
    level = run.levels.get(index=0)
    assert level.errors == 2 and level.completed == 2
    assert Sample.objects.filter(level=level).exclude(error="").first().error.startswith("HTTP 500")


def test_an_unreachable_endpoint_gives_error_samples_not_a_crash(suite, endpoint):
    from tests.support import free_port

    Endpoint.objects.filter(pk=endpoint.pk).update(base_url=f"http://127.0.0.1:{free_port()}")
    suite.refresh_from_db()
    run = run_execute(run_id=start(suite).pk)
    assert run.state == RunState.FINISHED
    assert run.levels.get(index=0).errors == 4


def test_a_slower_run_is_a_regression_against_the_baseline(suite, fake):
    baseline = run_execute(run_id=start(suite).pk)
    services.baseline_pin(suite=suite, run=baseline, actor=None)
    fake.configure(itl_ms=20)

    run = run_execute(run_id=services.run_start(suite=suite, actor=None).pk)

    assert run.baseline_id == baseline.pk
    metrics = {(r["metric"], r["concurrency"]) for r in run.regressions}
    assert ("itl_ms", 1) in metrics and ("tpot_ms", 2) in metrics
    itl = next(r for r in run.regressions if r["metric"] == "itl_ms")
    assert itl["change_pct"] > 50 and itl["value"] > itl["baseline"]
    event = AgentEvent.objects.get(kind="bench.regression")
    assert event.data["run"] == run.pk and event.data["regressions"] == run.regressions


def test_the_same_speed_is_no_regression(suite):
    # Four requests per level: tok/s swings by tens of percent on a busy 2-core machine.
    suite.regression_threshold_pct = 60
    services.suite_save(suite=suite, actor=None)
    baseline = run_execute(run_id=start(suite).pk)
    run = run_execute(run_id=start(suite, baseline=baseline).pk)
    assert run.regressions == []
    assert not AgentEvent.objects.filter(kind="bench.regression").exists()


def test_foreign_traffic_asks_for_confirmation_then_marks_the_run_polluted(suite, fake):
    fake.configure(foreign=3)
    with pytest.raises(services.ForeignTraffic) as refused:
        start(suite)
    assert refused.value.count == 3
    assert not Run.objects.exists()

    run = run_execute(run_id=start(suite, confirm_foreign=True).pk)
    assert run.polluted and run.concurrent_foreign_requests == 3


def test_an_endpoint_without_metrics_is_not_refused(suite, fake):
    fake.configure(metrics=False, foreign=3)
    run = start(suite)
    assert not run.polluted and run.concurrent_foreign_requests is None


def test_one_run_per_endpoint_at_a_time(suite):
    first = start(suite)
    with pytest.raises(services.EndpointBusy) as busy:
        start(suite)
    assert busy.value.run_id == first.pk
    # A lease whose worker died expires; the endpoint is free again.
    Endpoint.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert start(suite).pk != first.pk


def test_an_alert_rule_on_bench_regression_opens_an_alert(suite, fake):
    from apps.alerts import engine, rules
    from apps.alerts.models import Alert, AlertRule

    AlertRule.objects.all().delete()
    AlertRule.objects.create(event_kind="bench.regression", name="Slower models", channels=[])
    rules.invalidate()
    baseline = run_execute(run_id=start(suite).pk)
    fake.configure(itl_ms=25)
    run_execute(run_id=start(suite, baseline=baseline).pk)

    engine.evaluate_event(AgentEvent.objects.get(kind="bench.regression").pk)

    alert = Alert.objects.get()
    assert alert.dedupe_key.endswith(f"endpoint={suite.endpoint_id}")  # one alert per endpoint
    assert alert.title.startswith("fake-model on fake got slower: ")
    assert "more)" in alert.title and "against run" in alert.message
