"""Every agent endpoint is in the OpenAPI schema, and the schema builds without warnings."""

from __future__ import annotations

import pytest

PATHS = [
    "/api/v1/agents", "/api/v1/agents/{id}", "/api/v1/agents/{id}/heartbeat",
    "/api/v1/agents/{id}/commands/{command_id}/ack", "/api/v1/agents/{id}/actions",
    "/api/v1/agents/{id}/assign", "/api/v1/agents/{id}/block", "/api/v1/agents/{id}/unblock",
    "/api/v1/agents/{id}/complete", "/api/v1/agents/{id}/error", "/api/v1/agents/{id}/tasks",
    "/api/v1/agents/{id}/tasks/{task_id}", "/api/v1/agents/{id}/workflow",
    "/api/v1/agents/{id}/workflow/signal", "/api/v1/events", "/api/v1/spans",
]


@pytest.mark.django_db
def test_the_schema_documents_every_agent_endpoint(client, owner):
    client.force_login(owner)
    r = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in PATHS:
        assert path in paths, path
    schemas = r.json()["components"]["schemas"]
    assert set(schemas["HeartbeatOut"]["properties"]) == {"agent", "commands"}
    assert "sub_agent_count" in schemas["Agent"]["properties"]
    assert "cost_usd" in schemas["Usage"]["properties"]
    assert schemas["Agent"]["properties"]["usage"]
    assert "/api/v1/bench/insert" not in paths  # the ingest yardstick is never routed by default


@pytest.mark.django_db
def test_every_operation_documents_its_errors_and_the_linear_webhook_is_there(client, owner):
    client.force_login(owner)
    document = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    error_ref = {"$ref": "#/components/schemas/ApiError"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for code in ("400", "401", "403") if path != "/api/v1/linear/webhook" else ("400", "401"):
                assert responses[code]["content"]["application/json"]["schema"] == error_ref, (
                    method, path, code)
            if method in ("post", "put", "patch", "delete") and path != "/api/v1/linear/webhook":
                assert "Retry-After" in responses["429"]["headers"], (method, path)
    webhook = document["paths"]["/api/v1/linear/webhook"]["post"]
    assert webhook["security"] == []
    assert {p["name"] for p in webhook["parameters"]} == {"Linear-Signature", "Linear-Delivery"}
    alerts = document["paths"]["/api/v1/alerts"]["get"]["responses"]["200"]
    assert alerts["content"]["application/json"]["schema"]["$ref"].endswith("PaginatedAlertList")
    ack = document["paths"]["/api/v1/alerts/{id}/ack"]["post"]["responses"]["200"]
    assert ack["content"]["application/json"]["schema"]["$ref"].endswith("AlertAction")
    tasks = document["paths"]["/api/v1/agents/{id}/tasks"]["get"]["responses"]["200"]
    assert tasks["content"]["application/json"]["schema"]["$ref"].endswith("PaginatedTaskList")
