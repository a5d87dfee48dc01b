"""API errors are JSON `{"error", "details"}` whatever went wrong; never an HTML page."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIRequestFactory

from apps.core.api.errors import exception_handler

pytestmark = pytest.mark.django_db


def test_no_key_is_401(anon_api, project):
    response = anon_api.get("/api/v1/projects")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "Authentication credentials were not provided.",
        "details": {},
    }


def test_malformed_json_is_400(api, project):
    response = api.generic(
        "PATCH", "/api/v1/projects/apollo", '{"name": "x",,}', content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("Malformed request body: JSON parse error")
    assert body["details"] == {}


def test_a_body_over_1_mb_is_413_json(api, project):
    payload = json.dumps({"description": "x" * (1024 * 1024)})
    response = api.generic(
        "PATCH", "/api/v1/projects/apollo", payload, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["error"] == "Request body is larger than 1 MB."
    project.refresh_from_db()
    assert project.description == "The main project"


def test_a_body_just_under_1_mb_is_accepted(api, project):
    description = "x" * (1024 * 1024 - 100)
    response = api.generic(
        "PATCH",
        "/api/v1/projects/apollo",
        json.dumps({"description": description}),
        content_type="application/json",
    )
    assert response.status_code == 200


def test_the_wrong_content_type_is_415_json(api, project):
    response = api.generic(
        "PATCH",
        "/api/v1/projects/apollo",
        "name=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["error"]


def test_a_wrong_method_is_405_json(api, project):
    response = api.delete("/api/v1/projects/apollo")
    assert response.status_code == 405
    assert response.json() == {"error": 'Method "DELETE" not allowed.', "details": {}}


def test_validation_errors_carry_field_details(api, project):
    response = api.patch("/api/v1/projects/apollo", {"name": "x" * 101}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid input."
    assert body["details"] == {"name": ["Ensure this field has no more than 100 characters."]}


def test_a_model_validation_error_becomes_400_not_500():
    """Services call full_clean(); their Django ValidationError reaches clients as a 400."""
    request = APIRequestFactory().get("/")
    response = exception_handler(ValidationError({"slug": ["taken"]}), {"request": request})
    assert response.status_code == 400
    assert response.data == {"error": "Invalid input.", "details": {"slug": ["taken"]}}


def test_an_unexpected_error_is_a_json_500_when_debug_is_off(settings, caplog):
    settings.DEBUG = False
    response = exception_handler(RuntimeError("boom"), {})
    assert response.status_code == 500
    assert response.data == {
        "error": "Internal server error; the failure was logged.",
        "details": {},
    }
    assert "boom" in caplog.text


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": "No such API endpoint.", "details": {}}
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_a_failure_outside_drf_is_json_under_the_api(rf):
    from apps.core.api.errors import server_error

    response = server_error(rf.get("/api/v1/agents"))
    assert response.status_code == 500
    assert json.loads(response.content)["error"].startswith("Internal server error")
    assert server_error(rf.get("/agents/"))["Content-Type"].startswith("text/html")
