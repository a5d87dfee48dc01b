from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.benches.models import Endpoint, Suite
from tests.benches.fake_stream import Behaviour, FakeProcess, serving

FAST = Behaviour(ttft_ms=40, itl_ms=10, tokens=8, slots=8)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeProcess]:
    with serving(Behaviour(**vars(FAST))) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProcess) -> Iterator[FakeProcess]:
    """The module's fake, put back to FAST behaviour after each test."""
    yield fake_server
    fake_server.configure(**vars(FAST) | {"foreign": 0, "fail_every": 0, "metrics": True})


@pytest.fixture
def endpoint(project, fake) -> Endpoint:
    return Endpoint.objects.create(project=project, name="fake", base_url=fake.url,
                                   default_model="fake-model")


@pytest.fixture
def suite(project, endpoint) -> Suite:
    return Suite.objects.create(project=project, endpoint=endpoint, name="smoke",
                                concurrency_levels=[1, 2], requests_per_level=4,
                                warmup_requests=0, max_tokens=8, timeout_s=10)
