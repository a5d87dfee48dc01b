"""apps/benches/apis.py: /api/v1/benches/endpoints."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.benches import endpoints as svc
from apps.benches.models import Endpoint

pytestmark = pytest.mark.django_db
URL = "/api/v1/benches/endpoints"


@pytest.fixture
def endpoint(make_endpoint):
    return make_endpoint(name="gpu1", api_key="sk-secret-abcd1234")


def session(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def keyed(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_write_key_creates_in_its_project_and_never_sees_the_key(api, project):
    response = api.post(URL, {"name": "vllm", "base_url": "http://gpu1:8000/v1",
                              "api_key": "sk-new-key-9876", "headers": {"X-Team": "ml"}},
                        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["project"] == "apollo" and body["base_url"] == "http://gpu1:8000"
    assert body["api_key_hint"] == "…9876" and "api_key" not in body
    assert "sk-new-key" not in response.content.decode()
    assert body["state"] == "unknown" and body["headers"] == {"X-Team": "ml"}
    assert svc.endpoint_api_key(Endpoint.objects.get()) == "sk-new-key-9876"


def test_list_retrieve_patch_delete(api, endpoint):
    assert [e["name"] for e in api.get(URL).json()["results"]] == ["gpu1"]
    assert api.get(f"{URL}/{endpoint.pk}").json()["api_key_hint"] == "…1234"
    response = api.patch(f"{URL}/{endpoint.pk}", {"default_model": "llama", "api_key": ""},
                         format="json")
    assert response.status_code == 200 and response.json()["default_model"] == "llama"
    assert svc.endpoint_api_key(Endpoint.objects.get()) == "sk-secret-abcd1234"
    response = api.put(f"{URL}/{endpoint.pk}", {"name": "gpu1b", "base_url": "http://h:1"},
                       format="json")
    assert response.status_code == 200 and response.json()["name"] == "gpu1b"
    assert api.delete(f"{URL}/{endpoint.pk}").status_code == 204
    assert not Endpoint.objects.exists()


def test_another_projects_key_gets_404(endpoint, other_project):
    from tests.conftest import make_key

    other = keyed(make_key(other_project))
    assert other.get(URL).json()["results"] == []
    for method in ("get", "patch", "delete"):
        assert getattr(other, method)(f"{URL}/{endpoint.pk}", {}, format="json").status_code == 404
    assert other.post(f"{URL}/{endpoint.pk}/probe").status_code == 404
    assert other.get(f"{URL}/{endpoint.pk}/models").status_code == 404


def test_a_read_key_reads_but_cannot_write(read_key, endpoint):
    client = keyed(read_key)
    assert client.get(f"{URL}/{endpoint.pk}").status_code == 200
    response = client.post(URL, {"name": "x", "base_url": "http://h:1"}, format="json")
    assert response.status_code == 403 and "read-only" in response.content.decode()
    assert client.patch(f"{URL}/{endpoint.pk}", {"name": "y"}, format="json").status_code == 403
    assert client.delete(f"{URL}/{endpoint.pk}").status_code == 403
    assert client.post(f"{URL}/{endpoint.pk}/probe").status_code == 403


def test_sessions_viewers_read_admins_write(viewer, admin_user, outsider, endpoint, project):
    assert session(viewer).get(URL).status_code == 200
    response = session(viewer).post(URL, {"project": "apollo", "name": "x",
                                          "base_url": "http://h:1"}, format="json")
    assert response.status_code == 403
    assert session(viewer).delete(f"{URL}/{endpoint.pk}").status_code == 403
    assert session(outsider).get(URL).status_code == 403
    assert APIClient().get(URL).status_code in (401, 403)
    response = session(admin_user).post(URL, {"name": "x", "base_url": "http://h:1"}, format="json")
    assert response.status_code == 400 and "project" in response.content.decode()
    response = session(admin_user).post(URL, {"project": "apollo", "name": "x",
                                              "base_url": "http://h:1"}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("payload,field,message", [
    ({"name": "n", "base_url": "gpu1:8000"}, "base_url", "http:// or https://"),
    ({"name": "n", "base_url": "http://h:1", "headers": ["x"]}, "headers", ""),
    ({"name": "n", "base_url": "http://h:1", "headers": {"Authorization": "x"}}, "headers",
     "set by Switchboard"),
    ({"name": "n", "base_url": "http://h:1", "probe": "completion"}, "default_model",
     "needs a default model"),
    ({"name": "n", "base_url": "http://h:1", "kind": "grpc"}, "kind", ""),
    ({"name": "gpu1", "base_url": "http://h:1"}, "name", "already has an endpoint"),
    ({"base_url": "http://h:1"}, "name", "required"),
])
def test_bad_input_answers_400_with_the_field(api, endpoint, payload, field, message):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode() and message in response.content.decode()


def test_bad_json_answers_400(api):
    response = api.generic("POST", URL, "{nope", content_type="application/json")
    assert response.status_code == 400


def test_probe_and_models(api, make_endpoint, fake):
    fake.configure(models=["m1", "m2"])
    e = make_endpoint(name="live", base_url=fake.url)
    response = api.post(f"{URL}/{e.pk}/probe")
    assert response.status_code == 200 and response.json()["state"] == "up"
    assert api.get(f"{URL}/{e.pk}/models").json()["models"] == ["m1", "m2"]
    fake.configure(models=["m3"])
    assert api.post(f"{URL}/{e.pk}/models").json()["models"] == ["m3"]
    fake.configure(down=True)
    response = api.post(f"{URL}/{e.pk}/models")
    assert response.status_code == 502 and "HTTP 503" in response.content.decode()


def test_the_schema_documents_the_endpoints(admin_user):
    response = session(admin_user).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/benches/endpoints/{id}/probe" in text and "api_key_hint" in text


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_added_over_the_api_is_probed_at_once(celery_worker, api, fake):
    from tests.support import wait_for

    response = api.post("/api/v1/benches/endpoints",
                        {"name": "gpu", "base_url": fake.url, "kind": "openai"}, format="json")
    assert response.status_code == 201, response.json()
    wait_for(lambda: Endpoint.objects.get().state == "up", timeout=20,
             message="the first probe, without waiting for beat")
