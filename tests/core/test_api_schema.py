"""OpenAPI schema at /api/v1/schema/ and Swagger UI at /api/v1/docs/, with nothing from a CDN."""

from __future__ import annotations

import re

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_the_schema_describes_the_api_and_its_key_auth(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["info"]["title"] == "Switchboard API"
    assert "/api/v1/whoami" in schema["paths"]
    assert "/api/v1/projects" in schema["paths"]
    assert "patch" in schema["paths"]["/api/v1/projects/{slug}"]
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert {"ApiKey": []} in schema["paths"]["/api/v1/whoami"]["get"]["security"]


def test_the_schema_is_json_on_request(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_the_docs_page_loads_everything_from_this_server(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    urls += re.findall(r"""https?://[^\s"'<>]+""", html)
    assert urls
    external = [u for u in urls if u.startswith(("http://", "https://", "//"))]
    assert external == [], f"docs page loads from outside: {external}"
    for url in re.findall(r"""src=["'](/static/[^"']+)["']""", html):
        assert client.get(url).status_code == 200, url


def test_the_docs_page_has_no_inline_script(client):
    """Its start-up script is served from a URL, so a strict CSP (script-src 'self') can hold."""
    html = client.get("/api/v1/docs/").content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    assert all("src=" in attrs and not body.strip() for attrs, body in scripts)
    init = client.get("/api/v1/docs/?script=")
    assert init.status_code == 200
    assert "/api/v1/schema/" in init.content.decode()
