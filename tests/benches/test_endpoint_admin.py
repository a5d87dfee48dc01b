"""apps/benches/admin.py: the owner's admin saves through the services."""

from __future__ import annotations

import pytest

from apps.benches import endpoints as svc
from apps.benches.models import Endpoint
from apps.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_the_admin_adds_and_edits_through_the_services(client, owner, project):
    client.force_login(owner)
    response = client.post("/admin/benches/endpoint/add/", {
        "project": project.pk, "name": "gpu1", "kind": "openai", "base_url": "http://gpu1:8000/v1",
        "default_model": "", "headers": "{}", "probe": "models", "metrics_path": "/metrics",
        "enabled": "on", "api_key": "sk-admin-key-4321",
    })
    assert response.status_code == 302, [(f, e) for f, e in (response.context["adminform"].form.errors.items() if response.context else [])]
    e = Endpoint.objects.get()
    assert e.base_url == "http://gpu1:8000" and svc.endpoint_api_key(e) == "sk-admin-key-4321"
    assert AuditEntry.objects.filter(action="bench_endpoint.created").exists()
    page = client.get(f"/admin/benches/endpoint/{e.pk}/change/").content.decode()
    assert "sk-admin-key" not in page and "…4321" in page
    response = client.post(f"/admin/benches/endpoint/{e.pk}/change/", {
        "name": "gpu1b", "kind": "openai", "base_url": "http://gpu1:8000", "default_model": "",
        "headers": "{}", "probe": "models", "metrics_path": "/metrics", "enabled": "on",
        "api_key": "",
    })
    assert response.status_code == 302
    e.refresh_from_db()
    assert e.name == "gpu1b" and svc.endpoint_api_key(e) == "sk-admin-key-4321"
    assert AuditEntry.objects.filter(action="bench_endpoint.updated").exists()
    assert "gpu1b" in client.get("/admin/benches/endpoint/").content.decode()


def test_runs_are_read_and_cancelled_through_the_service(client, owner, suite):
    from apps.benches.models import Run
    from apps.benches.services import run_start

    run = run_start(suite=suite, actor=None)
    client.force_login(owner)
    assert client.get("/admin/benches/run/").status_code == 200
    assert client.get(f"/admin/benches/run/{run.pk}/change/").status_code == 200  # read-only
    client.post("/admin/benches/run/", {"action": "cancel_runs", "_selected_action": [run.pk]})
    assert Run.objects.get(pk=run.pk).state == "cancelled"
    assert AuditEntry.objects.filter(action="bench.run.cancelled").exists()


def test_suites_are_deleted_with_an_audit_entry(client, owner, suite):
    from apps.benches.models import Suite

    client.force_login(owner)
    assert client.get("/admin/benches/suite/").status_code == 200
    client.post(f"/admin/benches/suite/{suite.pk}/delete/", {"post": "yes"})
    assert not Suite.objects.exists()
    assert AuditEntry.objects.filter(action="bench.suite.deleted").exists()
