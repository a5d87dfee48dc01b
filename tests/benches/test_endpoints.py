"""apps/benches/endpoints.py: the registry's writes, the stored key and the model list."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.benches import endpoints as svc
from apps.benches.models import Endpoint, EndpointState
from apps.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_it_creates_with_the_key_encrypted_and_a_hint(make_endpoint, admin_user):
    e = make_endpoint(api_key="sk-live-abcdefgh1234", actor=admin_user)
    assert e.api_key_encrypted and "abcdefgh1234" not in e.api_key_encrypted
    assert e.api_key_hint == "…1234"
    assert svc.endpoint_api_key(Endpoint.objects.get(pk=e.pk)) == "sk-live-abcdefgh1234"
    entry = AuditEntry.objects.get(action="bench_endpoint.created")
    assert entry.actor == admin_user and entry.data["api_key_set"] is True
    assert "sk-live" not in str(entry.data)


@pytest.mark.parametrize("given,stored", [
    ("http://gpu1:8000", "http://gpu1:8000"),
    ("http://gpu1:8000/", "http://gpu1:8000"),
    ("http://gpu1:8000/v1", "http://gpu1:8000"),
    ("https://API.example.com/v1/", "https://api.example.com"),
    (" https://proxy.example.com/team/v1 ", "https://proxy.example.com/team"),
])
def test_it_normalises_the_base_url(given, stored):
    assert svc.base_url_normalise(given) == stored


@pytest.mark.parametrize("bad", ["gpu1:8000", "ftp://x", "http://", "http://a:99999",
                                 "http://u:p@host", "http://h/?q=1", ""])
def test_it_rejects_bad_base_urls(bad):
    with pytest.raises(ValidationError) as err:
        svc.base_url_normalise(bad)
    assert "base_url" in err.value.message_dict


@pytest.mark.parametrize("headers,message", [
    (["x"], "JSON object"),
    ({"Authorization": "Bearer x"}, "set by Switchboard"),
    ({"bad name": "x"}, "not a valid header name"),
    ({"X-N": 3}, "must be a string"),
    ({"X-N": "a\nb"}, "one line"),
])
def test_it_rejects_bad_headers(make_endpoint, headers, message):
    with pytest.raises(ValidationError) as err:
        make_endpoint(headers=headers)
    assert message in str(err.value.message_dict["headers"])


def test_names_are_unique_per_project(make_endpoint, other_project):
    make_endpoint(name="gpu1")
    with pytest.raises(ValidationError) as err:
        make_endpoint(name="gpu1")
    assert "already has an endpoint" in str(err.value.message_dict["name"])
    make_endpoint(name="gpu1", project=other_project)  # another project may
    second = make_endpoint(name="gpu2")
    with pytest.raises(ValidationError):
        svc.endpoint_update(endpoint=second, changes={"name": "gpu1"})


def test_a_completion_probe_needs_a_default_model(make_endpoint):
    with pytest.raises(ValidationError) as err:
        make_endpoint(probe="completion")
    assert "default_model" in err.value.message_dict


def test_an_empty_key_on_edit_keeps_the_old_one(make_endpoint, admin_user):
    e = make_endpoint(api_key="sk-original-key-9999")
    e = svc.endpoint_update(endpoint=e, changes={"default_model": "llama"}, api_key="",
                            actor=admin_user)
    assert svc.endpoint_api_key(e) == "sk-original-key-9999" and e.default_model == "llama"
    entry = AuditEntry.objects.get(action="bench_endpoint.updated")
    assert entry.data["changed"] == ["default_model"] and entry.data["api_key_changed"] is False
    e = svc.endpoint_update(endpoint=e, changes={}, api_key="sk-new-key-0000")
    assert svc.endpoint_api_key(e) == "sk-new-key-0000" and e.api_key_hint == "…0000"
    e = svc.endpoint_update(endpoint=e, changes={}, clear_api_key=True)
    assert svc.endpoint_api_key(e) == "" and e.api_key_hint == ""


def test_moving_the_endpoint_forgets_its_liveness(make_endpoint):
    e = make_endpoint()
    Endpoint.objects.filter(pk=e.pk).update(state=EndpointState.DOWN, consecutive_failures=5)
    e.refresh_from_db()
    version = e.version
    e = svc.endpoint_update(endpoint=e, changes={"base_url": "http://gpu2:8000/v1"})
    assert e.base_url == "http://gpu2:8000" and e.state == EndpointState.UNKNOWN
    assert e.consecutive_failures == 0 and e.version == version + 1


def test_an_edit_that_changes_nothing_writes_nothing(make_endpoint):
    e = make_endpoint()
    svc.endpoint_update(endpoint=e, changes={"name": "gpu1", "base_url": "http://127.0.0.1:9/v1"})
    assert not AuditEntry.objects.filter(action="bench_endpoint.updated").exists()


def test_it_deletes_and_audits(make_endpoint, admin_user):
    e = make_endpoint()
    pk = e.pk
    svc.endpoint_delete(endpoint=e, actor=admin_user)
    assert not Endpoint.objects.exists()
    assert AuditEntry.objects.filter(action="bench_endpoint.deleted", target_id=str(pk)).exists()


def test_it_refreshes_the_models_from_the_server(make_endpoint, fake):
    fake.configure(models=["b-model", "a-model"], api_key="sk-fake-key-1234")
    e = make_endpoint(base_url=fake.url + "/v1", api_key="sk-fake-key-1234")
    assert svc.endpoint_models_refresh(endpoint=e) == ["a-model", "b-model"]
    e.refresh_from_db()
    assert e.models_list == ["a-model", "b-model"] and e.models_fetched_at is not None
    seen = fake.stats()["seen_headers"][-1]
    assert seen["authorization"] == "Bearer sk-fake-key-1234"


def test_anthropic_endpoints_list_models_with_their_headers(make_endpoint, fake):
    fake.configure(api_key="sk-ant-key-5678", models=["claude-x"])
    e = make_endpoint(kind="anthropic", base_url=fake.url, api_key="sk-ant-key-5678",
                      headers={"X-Team": "ml"})
    assert svc.endpoint_models_refresh(endpoint=e) == ["claude-x"]
    seen = fake.stats()["seen_headers"][-1]
    assert seen["x-api-key"] == "sk-ant-key-5678" and seen["anthropic-version"]
    assert seen["x-team"] == "ml" and "authorization" not in seen


def test_a_failed_refresh_says_why_and_keeps_the_list(make_endpoint, fake):
    e = make_endpoint(base_url=fake.url)
    svc.endpoint_models_refresh(endpoint=e)
    fake.configure(down=True)
    with pytest.raises(svc.EndpointUnreachable, match="HTTP 503"):
        svc.endpoint_models_refresh(endpoint=e)
    e.refresh_from_db()
    assert e.models_list == ["fake-model"]
