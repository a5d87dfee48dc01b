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


@pytest.mark.django_db
def test_readyz_keeps_its_reasons_to_this_machine_and_admins(client, admin_user):
    def broken() -> str:
        raise ConnectionError("broker unreachable at redis://10.1.2.3:6379")

    with mock.patch.dict(health.CHECKS, {"broker": broken}):
        remote = client.get("/readyz", REMOTE_ADDR="203.0.113.5").json()
        proxied = client.get("/readyz", HTTP_X_FORWARDED_FOR="203.0.113.5").json()
        client.force_login(admin_user)
        admin = client.get("/readyz", REMOTE_ADDR="203.0.113.5").json()
    for body in (remote, proxied):
        assert body["checks"]["broker"] == {"ok": False}
        assert "10.1.2.3" not in str(body)
    assert "10.1.2.3" in admin["checks"]["broker"]["error"]


@pytest.mark.django_db
def test_errors_are_friendly_pages_and_json_under_the_api(client, viewer):
    client.force_login(viewer)
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and b"There is nothing here" in page.content
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.json()["error"] == "No such API endpoint."
    from django.test import RequestFactory

    from apps.core.api.errors import server_error

    failed = server_error(RequestFactory().get("/agents/"))
    assert failed.status_code == 500 and b"Something went wrong on our side" in failed.content
    assert b"Traceback" not in failed.content


def test_logs_never_carry_invite_claim_tokens_or_api_keys():
    import logging

    from apps.core.logfilters import RedactSecrets

    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1,
                               "Not Found: %s (key %s)", ("/invite/AbC123-secret/", "sbk_live_0123456789abcdef"),
                               None)
    RedactSecrets().filter(record)
    text = record.getMessage()
    assert "AbC123-secret" not in text and "0123456789abcdef" not in text
    assert text == "Not Found: /invite/…/ (key sbk_…)"
