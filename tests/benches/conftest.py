"""A fake model server for the endpoint tests: one process per module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.benches.fake_stream import Behaviour, FakeProcess, serving


@pytest.fixture(scope="module")
def _fake_process() -> Iterator[FakeProcess]:
    with serving(Behaviour()) as server:
        yield server


@pytest.fixture
def fake(_fake_process: FakeProcess) -> FakeProcess:
    """A fake OpenAI/Anthropic server on 127.0.0.1 answering fast, listing `fake-model`."""
    _fake_process.configure(**_defaults())
    return _fake_process


def _defaults() -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(Behaviour())


@pytest.fixture
def make_endpoint(project):
    from apps.benches.endpoints import endpoint_create

    def make(**fields: Any):
        fields.setdefault("name", "gpu1")
        fields.setdefault("base_url", "http://127.0.0.1:9")
        return endpoint_create(project=fields.pop("project", project), **fields)

    return make
