"""CORS: only origins in CORS_ALLOWED_ORIGINS may call the API from a browser."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ALLOWED = "https://dashboard.example.com"


@pytest.fixture(autouse=True)
def allowlist(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]


def test_an_allowed_origin_gets_cors_headers(client, project, write_key):
    response = client.get(
        "/api/v1/whoami", HTTP_ORIGIN=ALLOWED, HTTP_AUTHORIZATION=f"Bearer {write_key}"
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED


def test_a_preflight_from_an_allowed_origin_may_send_the_key(client):
    response = client.options(
        "/api/v1/projects/apollo",
        HTTP_ORIGIN=ALLOWED,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "PATCH" in response["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("origin", ["https://evil.example.net", "http://dashboard.example.com"])
def test_other_origins_get_no_cors_headers(client, project, write_key, origin):
    response = client.get(
        "/api/v1/whoami", HTTP_ORIGIN=origin, HTTP_AUTHORIZATION=f"Bearer {write_key}"
    )
    assert "Access-Control-Allow-Origin" not in response
    preflight = client.options(
        "/api/v1/whoami", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in preflight


def test_pages_outside_the_api_never_get_cors_headers(client):
    response = client.get("/healthz", HTTP_ORIGIN=ALLOWED)
    assert "Access-Control-Allow-Origin" not in response
