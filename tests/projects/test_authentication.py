"""`Authorization: Bearer sbk_...`: valid, unknown, revoked, archived, malformed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.projects.models import ApiKey
from tests.conftest import make_key

pytestmark = pytest.mark.django_db


def whoami(client, header: str | None):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    return client.get("/api/v1/whoami", **extra)


def test_a_valid_key_works_and_records_its_use(client, project, write_key):
    response = whoami(client, f"Bearer {write_key}")
    assert response.status_code == 200, response.content
    assert response.json()["project"]["slug"] == "apollo"
    key = ApiKey.objects.get()
    assert key.last_used_at is not None


@override_settings(API_KEY_CACHE_SECONDS=0)
def test_last_use_is_written_at_most_once_a_minute(
    client, project, write_key, django_assert_num_queries
):
    whoami(client, f"Bearer {write_key}")
    # Now only the key lookup: no UPDATE on the hot path.
    with django_assert_num_queries(1):
        assert whoami(client, f"Bearer {write_key}").status_code == 200
    ApiKey.objects.update(last_used_at=timezone.now() - timedelta(minutes=5))
    whoami(client, f"Bearer {write_key}")
    assert timezone.now() - ApiKey.objects.get().last_used_at < timedelta(seconds=10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr("apps.projects.authentication.time.monotonic", c)
    return c


def test_a_verified_key_is_trusted_without_a_query_for_a_few_seconds(
    client, project, write_key, clock, django_assert_num_queries
):
    assert whoami(client, f"Bearer {write_key}").status_code == 200
    with django_assert_num_queries(0):
        assert whoami(client, f"Bearer {write_key}").status_code == 200
    clock.now += 5.1  # API_KEY_CACHE_SECONDS, default 5: checked again
    with django_assert_num_queries(1):
        assert whoami(client, f"Bearer {write_key}").status_code == 200


def test_a_key_revoked_elsewhere_stops_working_when_the_entry_expires(
    client, project, write_key, clock
):
    assert whoami(client, f"Bearer {write_key}").status_code == 200
    # Another process revokes it: this process learns at the next check.
    ApiKey.objects.update(revoked_at=timezone.now())
    clock.now += 4
    assert whoami(client, f"Bearer {write_key}").status_code == 200
    clock.now += 1.5
    assert whoami(client, f"Bearer {write_key}").status_code == 401


def test_revoking_or_archiving_in_this_process_takes_effect_at_once(
    client, project, write_key, admin_user
):
    from apps.projects import services

    assert whoami(client, f"Bearer {write_key}").status_code == 200
    services.api_key_revoke(key=ApiKey.objects.get(), actor=admin_user)
    assert whoami(client, f"Bearer {write_key}").status_code == 401

    raw = make_key(project, "write")
    assert whoami(client, f"Bearer {raw}").status_code == 200
    services.project_set_archived(project=project, archived=True, actor=admin_user)
    assert whoami(client, f"Bearer {raw}").status_code == 401


def test_unknown_keys_are_not_cached(client, project, django_assert_num_queries):
    for _ in range(2):
        with django_assert_num_queries(1):
            assert whoami(client, "Bearer sbk_notakey").status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Bearer sbk_notakey", "Bearer nope", "Bearer", "Bearer a b", "Bearer sbk_\xff\xfe"],
)
def test_unknown_or_malformed_keys_get_401(client, project, header):
    response = whoami(client, header)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] and body["details"] == {}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_no_key_gets_401(client, project):
    response = whoami(client, None)
    assert response.status_code == 401
    assert "credentials" in response.json()["error"].lower()


def test_a_revoked_key_gets_401(client, project, write_key):
    ApiKey.objects.update(revoked_at=timezone.now())
    response = whoami(client, f"Bearer {write_key}")
    assert response.status_code == 401
    assert response.json()["error"] == "Unknown or revoked API key."


def test_a_key_of_an_archived_project_gets_401(client, project, write_key):
    project.archived = True
    project.save()
    assert whoami(client, f"Bearer {write_key}").status_code == 401


def test_a_key_is_checked_by_its_whole_secret(client, project, write_key):
    tampered = write_key[:-1] + ("A" if write_key[-1] != "A" else "B")
    assert whoami(client, f"Bearer {tampered}").status_code == 401


def test_the_scheme_is_case_insensitive(client, project, write_key):
    assert whoami(client, f"bearer {write_key}").status_code == 200


def test_a_read_key_cannot_write(client, project):
    raw = make_key(project, "read")
    response = client.patch(
        "/api/v1/projects/apollo",
        {"description": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    project.refresh_from_db()
    assert project.description == "The main project"
