"""apps/benches/endpoint_views.py: Benches → Endpoints and its form."""

from __future__ import annotations

import pytest

from apps.benches import endpoints as svc
from apps.benches.models import Endpoint, EndpointState

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(make_endpoint):
    return make_endpoint(name="gpu1", base_url="http://127.0.0.1:9/v1", api_key="sk-secret-abcd1234",
                         default_model="llama-3")


@pytest.mark.parametrize("who,read,write", [
    ("owner", 200, 302), ("admin", 200, 302), ("viewer", 200, 403), ("outsider", 403, 403),
])
def test_the_permission_matrix(client, team, endpoint, who, read, write):
    client.force_login(team[who])
    assert client.get("/benches/").status_code == read
    assert client.get("/benches/endpoints/new").status_code == (200 if write == 302 else 403)
    assert client.get(f"/benches/endpoints/{endpoint.pk}/edit").status_code == (
        200 if write == 302 else 403)
    assert client.post(f"/benches/endpoints/{endpoint.pk}/probe").status_code == write
    assert client.post(f"/benches/endpoints/{endpoint.pk}/delete").status_code == write


def test_anonymous_goes_to_login(client, endpoint):
    response = client.get("/benches/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_admins_see_the_buttons_viewers_do_not(client, admin_user, viewer, endpoint):
    client.force_login(admin_user)
    page = client.get("/benches/").content.decode()
    assert "gpu1" in page and "http://127.0.0.1:9" in page and "Probe now" in page
    assert "Refresh models" in page and "Add endpoint" in page and 'data-confirm="Delete' in page
    assert "sk-secret" not in page
    client.force_login(viewer)
    page = client.get("/benches/").content.decode()
    assert "gpu1" in page and "Probe now" not in page and "Edit</a>" not in page
    assert "bench-endpoint-new" not in page and "/benches/endpoints/new" not in page


def test_the_empty_state_says_what_an_endpoint_is(client, admin_user, project):
    client.force_login(admin_user)
    page = client.get("/benches/?project=apollo").content.decode()
    assert "No model endpoints yet" in page and "model server your agents call" in page
    assert "/benches/endpoints/new?project=apollo" in page


def test_the_page_is_scoped_by_project(client, viewer, make_endpoint, other_project):
    make_endpoint(name="apollo-gpu")
    make_endpoint(name="zephyr-gpu", project=other_project)
    client.force_login(viewer)
    page = client.get("/benches/?project=zephyr").content.decode()
    assert "zephyr-gpu" in page and "apollo-gpu" not in page
    page = client.get("/benches/?project=all").content.decode()
    assert "zephyr-gpu" in page and "apollo-gpu" in page


def test_the_poll_returns_the_list_partial(client, viewer, endpoint):
    client.force_login(viewer)
    response = client.get("/benches/?partial=list", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="endpoint-list"') and "<html" not in html


def test_an_admin_adds_an_endpoint(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post("/benches/endpoints/new", {
        "project": project.pk, "name": "vllm-a", "kind": "openai",
        "base_url": "http://gpu1:8000/v1/", "api_key": "sk-typed-key-7777",
        "default_model": "llama", "headers": '{"X-Team": "ml"}', "probe": "models",
        "metrics_path": "/metrics", "enabled": "on",
    })
    assert response.status_code == 302 and "project=apollo" in response["Location"]
    e = Endpoint.objects.get(name="vllm-a")
    assert e.base_url == "http://gpu1:8000" and e.headers == {"X-Team": "ml"}
    assert svc.endpoint_api_key(e) == "sk-typed-key-7777" and e.api_key_hint == "…7777"


def test_bad_input_shows_clear_errors(client, admin_user, project, endpoint):
    client.force_login(admin_user)
    response = client.post("/benches/endpoints/new", {
        "project": project.pk, "name": "gpu1", "kind": "openai", "base_url": "gpu1:8000",
        "headers": "{nope", "probe": "completion",
    })
    page = response.content.decode()
    assert response.status_code == 200
    assert "Enter an http:// or https:// URL" in page and "Not valid JSON" in page
    response = client.post("/benches/endpoints/new", {
        "project": project.pk, "name": "gpu1", "kind": "openai", "base_url": "http://x:1",
        "probe": "models",
    })
    assert "already has an endpoint" in response.content.decode()
    response = client.post("/benches/endpoints/new", {
        "project": project.pk, "name": "gpu9", "kind": "openai", "base_url": "http://x:1",
        "probe": "completion",
    })
    assert "needs a default model" in response.content.decode()


def test_editing_with_an_empty_key_keeps_it_and_never_echoes_it(client, admin_user, endpoint):
    client.force_login(admin_user)
    form = client.get(f"/benches/endpoints/{endpoint.pk}/edit").content.decode()
    assert "sk-secret" not in form and "…1234" in form and "leave empty to keep it" in form
    response = client.post(f"/benches/endpoints/{endpoint.pk}/edit", {
        "name": "gpu1-renamed", "kind": "openai", "base_url": "http://127.0.0.1:9",
        "api_key": "", "default_model": "llama-3", "headers": "", "probe": "models",
        "metrics_path": "", "enabled": "on",
    })
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.name == "gpu1-renamed" and endpoint.metrics_path == ""
    assert svc.endpoint_api_key(endpoint) == "sk-secret-abcd1234"


def test_the_form_suggests_the_listed_models(client, admin_user, endpoint):
    Endpoint.objects.filter(pk=endpoint.pk).update(models_list=["llama-3", "qwen-2"])
    client.force_login(admin_user)
    form = client.get(f"/benches/endpoints/{endpoint.pk}/edit").content.decode()
    assert '<option value="qwen-2">' in form and 'list="endpoint-models"' in form


def test_probe_now_returns_the_card_for_htmx(client, admin_user, endpoint, settings):
    settings.BENCH_DOWN_AFTER = 1
    client.force_login(admin_user)
    response = client.post(f"/benches/endpoints/{endpoint.pk}/probe", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<article class="card endpoint-card state-down"')
    assert "Probed just now." in html and "chip-ep-down" in html
    assert Endpoint.objects.get(pk=endpoint.pk).state == EndpointState.DOWN


def test_refresh_models_failing_says_why_on_the_card(client, admin_user, endpoint):
    client.force_login(admin_user)
    response = client.post(f"/benches/endpoints/{endpoint.pk}/models", HTTP_HX_REQUEST="true")
    assert "Could not list the models" in response.content.decode()


def test_refresh_models_lists_them(client, admin_user, make_endpoint, fake):
    fake.configure(models=["m1", "m2"])
    e = make_endpoint(name="live", base_url=fake.url)
    client.force_login(admin_user)
    response = client.post(f"/benches/endpoints/{e.pk}/models", HTTP_HX_REQUEST="true")
    assert "2 models listed." in response.content.decode()


def test_delete_removes_it(client, admin_user, endpoint):
    client.force_login(admin_user)
    response = client.post(f"/benches/endpoints/{endpoint.pk}/delete")
    assert response.status_code == 302 and not Endpoint.objects.exists()


def test_unknown_ids_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/benches/endpoints/999/edit").status_code == 404
    for action in ("probe", "models", "delete"):
        assert client.post(f"/benches/endpoints/999/{action}").status_code == 404


def test_benches_is_in_the_navigation(client, viewer):
    client.force_login(viewer)
    assert 'href="/benches/"' in client.get("/alerts/").content.decode()
