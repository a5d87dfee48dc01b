"""The suites and runs API: scoping, permissions, starting (and its 409s), cancel, results."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.benches.models import Endpoint, Run, RunState, Suite
from apps.benches.runner import run_execute
from tests.conftest import make_key

pytestmark = pytest.mark.django_db


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_it_lists_and_creates_suites_in_the_keys_project(api, endpoint, suite):
    listed = api.get("/api/v1/benches/suites").json()
    assert [s["name"] for s in listed["results"]] == ["smoke"]
    created = api.post("/api/v1/benches/suites", {
        "endpoint": endpoint.pk, "name": "nightly", "concurrency_levels": [4, 1],
        "requests_per_level": 8, "schedule": "nightly", "schedule_hour": 2,
    }, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["concurrency_levels"] == [1, 4] and body["next_run_at"]
    assert body["project"] == "apollo"


def test_bad_suites_are_400_with_the_field(api, endpoint, suite):
    for payload, field in (
        ({"endpoint": endpoint.pk, "name": "x", "concurrency_levels": [0]}, "concurrency_levels"),
        ({"endpoint": endpoint.pk, "name": "smoke"}, "name"),
        ({"endpoint": 9999, "name": "y"}, "endpoint"),
        ({"endpoint": endpoint.pk, "name": "z", "timeout_s": 0}, "timeout_s"),
    ):
        response = api.post("/api/v1/benches/suites", payload, format="json")
        assert response.status_code == 400, payload
        assert field in response.json()["details"], response.json()


def test_another_projects_key_sees_nothing(other_project, suite):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(other_project)}")
    assert other.get(f"/api/v1/benches/suites/{suite.pk}").status_code == 404
    assert other.get("/api/v1/benches/suites").json()["results"] == []
    response = other.post("/api/v1/benches/runs", {"suite": suite.pk}, format="json")
    assert response.status_code == 400 and "suite" in response.json()["details"]


def test_an_endpoint_of_another_project_is_refused(other_project, api, endpoint):
    foreign = Endpoint.objects.create(project=other_project, name="x", base_url=endpoint.base_url)
    response = api.post("/api/v1/benches/suites", {"endpoint": foreign.pk, "name": "n"},
                        format="json")
    assert response.status_code == 400 and "endpoint" in response.json()["details"]


def test_viewers_and_read_keys_cannot_start_runs(viewer, read_key, suite):
    response = session(viewer).post("/api/v1/benches/runs", {"suite": suite.pk}, format="json")
    assert response.status_code == 403
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert reader.post("/api/v1/benches/runs", {"suite": suite.pk},
                       format="json").status_code == 403
    assert reader.get("/api/v1/benches/runs").status_code == 200
    assert not Run.objects.exists()


def test_an_admin_starts_a_run_and_reads_its_result(admin_user, suite):
    client = session(admin_user)
    response = client.post("/api/v1/benches/runs", {"suite": suite.pk}, format="json")
    assert response.status_code == 201, response.json()
    run = Run.objects.get()
    assert response.json()["state"] == "queued" and run.started_by == admin_user
    run_execute(run_id=run.pk)

    result = client.get(f"/api/v1/benches/runs/{run.pk}").json()
    assert result["state"] == "finished"
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 2]
    assert set(result["levels"][0]["ttft_ms"]) == {"mean", "p50", "p90", "p99"}
    samples = client.get(f"/api/v1/benches/runs/{run.pk}/samples").json()["results"]
    assert len(samples) == 8 and samples[0]["output_tokens"] == 8
    listed = client.get("/api/v1/benches/runs", {"state": "finished"}).json()["results"]
    assert [r["id"] for r in listed] == [run.pk]
    assert client.get("/api/v1/benches/runs", {"state": "nope"}).status_code == 400


def test_an_ad_hoc_run_on_an_endpoint(api, endpoint):
    response = api.post("/api/v1/benches/runs", {
        "endpoint": endpoint.pk, "settings": {"concurrency_levels": [3], "requests_per_level": 3},
    }, format="json")
    assert response.status_code == 201, response.json()
    run = Run.objects.get()
    assert run.model == "fake-model" and run.config["concurrency_levels"] == [3]
    assert run.trigger == "api"
    bad = api.post("/api/v1/benches/runs", {"endpoint": endpoint.pk,
                                            "settings": {"concurrency_levels": [0]}},
                   format="json")
    assert bad.status_code == 400 or bad.status_code == 409


def test_a_busy_endpoint_is_409_with_the_run(api, suite):
    first = api.post("/api/v1/benches/runs", {"suite": suite.pk}, format="json").json()
    second = api.post("/api/v1/benches/runs", {"suite": suite.pk}, format="json")
    assert second.status_code == 409
    assert second.json()["code"] == "endpoint_busy" and second.json()["run"] == first["id"]


def test_foreign_traffic_is_409_until_confirmed(api, suite, fake):
    fake.configure(foreign=2)
    refused = api.post("/api/v1/benches/runs", {"suite": suite.pk}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "foreign_traffic"
    assert refused.json()["foreign_requests"] == 2
    ok = api.post("/api/v1/benches/runs", {"suite": suite.pk, "confirm_foreign": True},
                  format="json")
    assert ok.status_code == 201 and ok.json()["polluted"] is True


def test_cancel(api, suite):
    run = api.post("/api/v1/benches/runs", {"suite": suite.pk}, format="json").json()
    response = api.post(f"/api/v1/benches/runs/{run['id']}/cancel")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    again = api.post(f"/api/v1/benches/runs/{run['id']}/cancel")
    assert again.status_code == 400


def test_pin_a_baseline(api, suite):
    run = Run.objects.create(project=suite.project, endpoint=suite.endpoint, model="fake-model",
                             state=RunState.FINISHED)
    response = api.post(f"/api/v1/benches/suites/{suite.pk}/baseline", {"run": run.pk},
                        format="json")
    assert response.status_code == 200 and response.json()["baseline"] == run.pk
    Run.objects.filter(pk=run.pk).update(model="other")
    bad = api.post(f"/api/v1/benches/suites/{suite.pk}/baseline", {"run": run.pk}, format="json")
    assert bad.status_code == 400
    assert api.post(f"/api/v1/benches/suites/{suite.pk}/baseline", {"run": None},
                    format="json").json()["baseline"] is None


def test_update_and_delete_a_suite(api, suite):
    response = api.patch(f"/api/v1/benches/suites/{suite.pk}", {"max_tokens": 64}, format="json")
    assert response.status_code == 200 and response.json()["max_tokens"] == 64
    assert api.delete(f"/api/v1/benches/suites/{suite.pk}").status_code == 204
    assert not Suite.objects.exists()


def test_the_schema_lists_the_bench_api(api):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    for path in ("/api/v1/benches/suites", "/api/v1/benches/runs",
                 "/api/v1/benches/runs/{id}", "/api/v1/benches/runs/{id}/cancel",
                 "/api/v1/benches/runs/{id}/samples"):
        assert path in schema["paths"], path
