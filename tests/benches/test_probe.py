"""apps/benches/probe.py: liveness against a real fake server on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.agents.models import AgentEvent
from apps.benches import probe
from apps.benches.models import Endpoint, EndpointState

pytestmark = pytest.mark.django_db


def events(kind_prefix: str = "endpoint.") -> list[str]:
    return list(AgentEvent.objects.filter(kind__startswith=kind_prefix).order_by("id")
                .values_list("kind", flat=True))


def beat(endpoint: Endpoint) -> Endpoint:
    """One beat round, as if the last probe was an interval ago."""
    Endpoint.objects.filter(pk=endpoint.pk).exclude(last_probe_at=None).update(
        last_probe_at=timezone.now() - timedelta(minutes=10))
    probe.endpoints_probe_due()
    endpoint.refresh_from_db()
    return endpoint


def test_up_then_slow_degraded_then_down_then_up_again(make_endpoint, fake, settings):
    settings.BENCH_DEGRADED_MS = 300
    e = make_endpoint(base_url=fake.url)
    e = beat(e)
    assert e.state == EndpointState.UP and e.last_seen_at and e.last_latency_ms < 300
    assert e.models_list == ["fake-model"] and e.last_error == ""

    fake.configure(answer_ms=400)
    e = beat(e)
    assert e.state == EndpointState.DEGRADED and e.last_latency_ms >= 400
    assert e.consecutive_failures == 0

    fake.configure(answer_ms=0, down=True)
    e = beat(e)
    assert e.state == EndpointState.DEGRADED and e.consecutive_failures == 1
    assert "HTTP 503" in e.last_error
    e = beat(e)
    assert e.state == EndpointState.DEGRADED and e.consecutive_failures == 2
    e = beat(e)
    assert e.state == EndpointState.DOWN and e.consecutive_failures == 3
    e = beat(e)  # still down: no second event
    assert e.state == EndpointState.DOWN and e.consecutive_failures == 4

    fake.configure(down=False)
    e = beat(e)
    assert e.state == EndpointState.UP and e.consecutive_failures == 0 and e.last_error == ""
    assert events() == ["endpoint.up", "endpoint.degraded", "endpoint.down", "endpoint.up"]
    down = AgentEvent.objects.get(kind="endpoint.down")
    assert down.agent_id is None and down.project_id == e.project_id
    assert down.data["endpoint_id"] == e.pk and down.data["name"] == "gpu1"
    assert down.data["url"] == fake.url and "503" in down.data["error"]
    assert down.data["previous"] == "degraded"


def test_a_refused_connection_counts_as_a_failure(make_endpoint, settings):
    settings.BENCH_DOWN_AFTER = 1
    from tests.support import free_port

    e = beat(make_endpoint(base_url=f"http://127.0.0.1:{free_port()}"))
    assert e.state == EndpointState.DOWN and "connect" in e.last_error.lower()
    assert events() == ["endpoint.down"]


def test_a_timeout_counts_as_a_failure(make_endpoint, fake, settings):
    settings.BENCH_PROBE_TIMEOUT_SECONDS = 1
    fake.configure(answer_ms=1500)
    e = beat(make_endpoint(base_url=fake.url))
    assert e.state == EndpointState.DEGRADED and "Timed out" in e.last_error


def test_a_second_beat_in_the_same_round_probes_nothing(make_endpoint, fake):
    e = make_endpoint(base_url=fake.url)
    assert probe.endpoints_probe_due() == {"probed": 1, "transitions": 1}
    before = fake.stats()["requests"]
    assert probe.endpoints_probe_due() == {"probed": 0, "transitions": 0}
    assert fake.stats()["requests"] == before
    e.refresh_from_db()
    assert events() == ["endpoint.up"] and e.state == EndpointState.UP


def test_two_results_from_the_same_state_record_one_transition(make_endpoint, settings):
    settings.BENCH_DOWN_AFTER = 3
    e = make_endpoint()
    Endpoint.objects.filter(pk=e.pk).update(state=EndpointState.DEGRADED, consecutive_failures=2)
    failed = probe.ProbeResult(ok=False, error="HTTP 503")
    assert probe.probe_apply(endpoint_id=e.pk, result=failed) == "endpoint.down"
    assert probe.probe_apply(endpoint_id=e.pk, result=failed) is None  # re-read: already down
    assert events() == ["endpoint.down"]


def test_a_repeated_success_records_one_up(make_endpoint):
    e = make_endpoint()
    Endpoint.objects.filter(pk=e.pk).update(state=EndpointState.DOWN, consecutive_failures=3)
    ok = probe.ProbeResult(ok=True, latency_ms=5.0)
    assert probe.probe_apply(endpoint_id=e.pk, result=ok) == "endpoint.up"
    assert probe.probe_apply(endpoint_id=e.pk, result=ok) is None
    assert events() == ["endpoint.up"]


def test_disabled_endpoints_are_not_probed(make_endpoint, fake):
    make_endpoint(base_url=fake.url, enabled=False)
    assert probe.endpoints_probe_due() == {"probed": 0, "transitions": 0}


def test_a_completion_probe_sends_one_token(make_endpoint, fake):
    e = make_endpoint(base_url=fake.url, probe="completion", default_model="m1")
    e = probe.endpoint_probe(endpoint=e)
    assert e.state == EndpointState.UP
    stats = fake.stats()
    assert stats["requests"] >= 1 and e.models_list == []
    a = make_endpoint(name="claude", kind="anthropic", base_url=fake.url, probe="completion",
                      default_model="claude-x")
    assert probe.endpoint_probe(endpoint=a).state == EndpointState.UP


def test_many_endpoints_are_probed_concurrently(make_endpoint, fake):
    import time

    fake.configure(answer_ms=400)
    for i in range(8):
        make_endpoint(name=f"e{i}", base_url=fake.url)
    started = time.monotonic()
    assert probe.endpoints_probe_due()["probed"] == 8
    assert time.monotonic() - started < 2.5  # serially it would take 3.2 s or more


@pytest.mark.parametrize("state,failures,ok,latency,expected", [
    ("unknown", 0, True, 10, ("up", 0)),
    ("unknown", 0, False, None, ("degraded", 1)),
    ("up", 0, True, 5000, ("degraded", 0)),
    ("degraded", 2, False, None, ("down", 3)),
    ("down", 7, False, None, ("down", 8)),
    ("down", 7, True, 10, ("up", 0)),
    ("down", 7, True, 5000, ("degraded", 0)),
])
def test_the_state_machine(state, failures, ok, latency, expected):
    result = probe.ProbeResult(ok=ok, latency_ms=latency)
    assert probe.next_state(state=state, failures=failures, result=result,
                            degraded_ms=2000, down_after=3) == expected
