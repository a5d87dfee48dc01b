from __future__ import annotations

from unittest import mock

import pytest

from apps.core import health


@pytest.mark.django_db
def test_healthz_does_no_io(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_dependency(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "channel_layer", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
def test_readyz_is_503_when_one_is_down(client):
    def broken() -> str:
        raise ConnectionError("broker unreachable")

    with mock.patch.dict(health.CHECKS, {"broker": broken}):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["broker"]["ok"] is False
    assert "broker unreachable" in body["checks"]["broker"]["error"]
    assert body["checks"]["database"]["ok"] is True
