"""The suites page, the suite form and Run now."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.benches.models import Run, RunState, Suite
from tests.benches import seed
from tests.benches.fake_stream import Behaviour, serving

pytestmark = pytest.mark.django_db


def _as(client, user):
    client.force_login(user)
    return client


FORM = {
    "name": "latency", "model": "", "mode": "concurrency", "levels": "1, 2 4,8",
    "arrival": "constant", "prompt_set": "fixed", "prompt_tokens": 64, "max_tokens": 32,
    "requests_per_level": 8, "warmup_requests": 1, "timeout_s": 30, "slo_ttft_ms": "200",
    "slo_tpot_ms": "", "slo_e2e_ms": "", "schedule": "nightly", "schedule_hour": 4,
    "regression_threshold_pct": 15,
}


def test_it_lists_suites_with_their_last_run_and_baseline(client, viewer, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep, schedule="nightly", schedule_hour=2)
    base = seed.run(s)
    s.baseline = base
    s.save()
    last = seed.run(s, state=RunState.RUNNING)
    page = _as(client, viewer).get("/benches/suites/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "nightly" in body and "gpu1" in body and "llama-3-8b" in body
    assert "concurrency 1, 2, 4, 8" in body and "Nightly 02:00 UTC" in body
    assert f"/benches/runs/{last.pk}/" in body and "Running" in body
    assert f"/benches/runs/{base.pk}/" in body
    # viewers read only
    assert "Run now" not in body and "New suite" not in body and "Edit" not in body


def test_its_query_count_does_not_grow_with_suites_or_runs(client, viewer, project):
    ep = seed.endpoint(project)
    seed.run(seed.suite(ep, name="a"))
    _as(client, viewer).get("/benches/suites/")
    with CaptureQueriesContext(connection) as few:
        client.get("/benches/suites/")
    for i in range(4):
        s = seed.suite(ep, name=f"more-{i}")
        seed.run(s)
        seed.run(s)
    with CaptureQueriesContext(connection) as many:
        client.get("/benches/suites/")
    assert len(many) == len(few)


def test_it_shows_an_empty_state(client, admin_user, project):
    body = _as(client, admin_user).get("/benches/suites/").content.decode()
    assert "No bench suites yet" in body and "Register a model endpoint first" in body
    seed.endpoint(project)
    body = client.get("/benches/suites/").content.decode()
    assert "Create the first suite" in body


def test_admins_create_a_suite(client, admin_user, project):
    ep = seed.endpoint(project)
    form = _as(client, admin_user).get("/benches/suites/new/").content.decode()
    assert 'list="suite-models"' in form and '<option value="qwen2-7b">' in form
    response = client.post("/benches/suites/new/", FORM | {"endpoint": ep.pk})
    assert response.status_code == 302 and response["Location"] == "/benches/suites/"
    suite = Suite.objects.get()
    assert suite.project == project and suite.concurrency_levels == [1, 2, 4, 8]
    assert suite.slo_ttft_ms == 200 and suite.next_run_at is not None
    assert suite.created_by == admin_user


def test_it_parses_request_rates(client, admin_user, project):
    ep = seed.endpoint(project)
    _as(client, admin_user).post("/benches/suites/new/", FORM | {
        "endpoint": ep.pk, "mode": "rate", "levels": "0.5, 1 2", "arrival": "poisson"})
    suite = Suite.objects.get()
    assert suite.request_rates == [0.5, 1.0, 2.0] and suite.concurrency_levels == []


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"levels": "1, two"}, "levels", "Numbers separated by commas"),
    ({"levels": ""}, "levels", "This field is required"),
    ({"levels": "0, 4"}, "levels", "above 0"),
    ({"requests_per_level": 0}, "requests_per_level", "Between 1 and"),
    ({"schedule_hour": 25}, "schedule_hour", "An hour from 0 to 23"),
    ({"timeout_s": "abc"}, "timeout_s", "Enter a number"),
])
def test_it_shows_validation_errors_on_the_form(client, admin_user, project, change, field,
                                                message):
    ep = seed.endpoint(project)
    response = _as(client, admin_user).post("/benches/suites/new/",
                                            FORM | {"endpoint": ep.pk} | change)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert not Suite.objects.exists()


def test_it_needs_a_model_when_the_endpoint_has_no_default(client, admin_user, project):
    ep = seed.endpoint(project, default_model="")
    response = _as(client, admin_user).post("/benches/suites/new/", FORM | {"endpoint": ep.pk})
    assert "Name a model" in " ".join(response.context["form"].errors["model"])


def test_a_duplicate_name_is_an_error_not_a_500(client, admin_user, project):
    ep = seed.endpoint(project)
    seed.suite(ep, name="latency")
    response = _as(client, admin_user).post("/benches/suites/new/", FORM | {"endpoint": ep.pk})
    assert response.status_code == 200 and response.context["form"].errors


def test_the_endpoint_choice_is_limited_to_the_suites_project(client, admin_user, project,
                                                               other_project):
    ep = seed.endpoint(project)
    foreign = seed.endpoint(other_project, name="elsewhere")
    s = seed.suite(ep)
    form = _as(client, admin_user).get(f"/benches/suites/{s.pk}/edit/").content.decode()
    assert "elsewhere" not in form and 'value="1, 2, 4, 8"' in form
    response = client.post(f"/benches/suites/{s.pk}/edit/", FORM | {"endpoint": foreign.pk})
    assert "endpoint" in response.context["form"].errors
    assert Suite.objects.get().endpoint == ep


def test_admins_edit_and_delete_a_suite(client, admin_user, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep)
    run = seed.run(s)
    _as(client, admin_user).post(f"/benches/suites/{s.pk}/edit/",
                                 FORM | {"endpoint": ep.pk, "name": "renamed"})
    assert Suite.objects.get().name == "renamed"
    assert client.post(f"/benches/suites/{s.pk}/delete/").status_code == 302
    assert not Suite.objects.exists() and Run.objects.filter(pk=run.pk).exists()


@pytest.mark.parametrize("method,path", [
    ("get", "/benches/suites/new/"), ("post", "/benches/suites/new/"),
    ("get", "/benches/suites/{s}/edit/"), ("post", "/benches/suites/{s}/delete/"),
    ("post", "/benches/suites/{s}/run/"),
])
def test_viewers_cannot_write(client, viewer, project, method, path):
    s = seed.suite(seed.endpoint(project))
    response = getattr(_as(client, viewer), method)(path.format(s=s.pk))
    assert response.status_code == 403
    assert Suite.objects.count() == 1 and not Run.objects.exists()


def test_outsiders_and_anonymous_users_are_kept_out(client, outsider):
    assert client.get("/benches/suites/").status_code == 302
    assert _as(client, outsider).get("/benches/suites/").status_code == 403


def test_suites_of_archived_projects_are_not_found(client, admin_user, project):
    s = seed.suite(seed.endpoint(project))
    project.archived = True
    project.save()
    _as(client, admin_user)
    assert client.get(f"/benches/suites/{s.pk}/edit/").status_code == 404
    assert client.post(f"/benches/suites/{s.pk}/run/").status_code == 404
    assert client.get("/benches/suites/9999/edit/").status_code == 404
    assert "suite-card" not in client.get("/benches/suites/").content.decode()


def test_run_now_starts_a_run_and_redirects_to_it(client, admin_user, project):
    s = seed.suite(seed.endpoint(project))
    response = _as(client, admin_user).post(f"/benches/suites/{s.pk}/run/")
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/benches/runs/{run.pk}/"
    assert run.state == RunState.QUEUED and run.started_by == admin_user and not run.polluted


def test_run_now_on_a_busy_endpoint_links_to_the_run_in_progress(client, admin_user, project):
    s = seed.suite(seed.endpoint(project))
    _as(client, admin_user).post(f"/benches/suites/{s.pk}/run/")
    first = Run.objects.get()
    response = client.post(f"/benches/suites/{s.pk}/run/", follow=True)
    body = response.content.decode()
    assert Run.objects.count() == 1
    assert "is busy" in body and f'href="/benches/runs/{first.pk}/"' in body


def test_foreign_traffic_asks_for_confirmation_then_marks_the_run_polluted(client, admin_user,
                                                                           project):
    with serving(Behaviour(foreign=3)) as server:
        ep = seed.endpoint(project, url=server.url, metrics_path="/metrics")
        s = seed.suite(ep)
        response = _as(client, admin_user).post(f"/benches/suites/{s.pk}/run/")
        body = response.content.decode()
        assert response.status_code == 200 and not Run.objects.exists()
        assert "serving <strong>3 requests</strong> from elsewhere" in body
        assert 'name="confirm" value="1"' in body and "Run anyway (result marked polluted)" in body
        response = client.post(f"/benches/suites/{s.pk}/run/", {"confirm": "1"})
    run = Run.objects.get()
    assert response["Location"] == f"/benches/runs/{run.pk}/"
    assert run.polluted and run.concurrent_foreign_requests == 3
