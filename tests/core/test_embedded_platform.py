"""The real platform process (`manage.py serve`): HTTP, a beat task and an on-demand task."""

from __future__ import annotations

import pytest
import requests

from apps.core.models import ServiceBeat
from tests.support import wait_for

pytestmark = pytest.mark.live


def test_it_serves_http(live):
    response = requests.get(f"{live.url}/healthz", timeout=5)
    assert response.status_code == 200
    ready = requests.get(f"{live.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["broker"]["ok"] is True


def test_a_periodic_beat_task_runs(live):
    ServiceBeat.objects.all().delete()
    beat = wait_for(lambda: ServiceBeat.objects.filter(name="beat").first(), timeout=20,
                    message="a beat tick")
    assert beat.detail["host"]


def test_an_on_demand_task_runs(live, owner):
    session = requests.Session()
    login = session.get(f"{live.url}/accounts/login/", timeout=5)
    assert login.status_code == 200
    session.post(
        f"{live.url}/accounts/login/",
        data={"login": "olivia", "password": "correct-horse-battery-staple",
              "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{live.url}/accounts/login/"},
        timeout=5,
    )
    page = session.get(f"{live.url}/settings/system/", timeout=10)
    assert page.status_code == 200, page.text[:500]
    response = session.post(
        f"{live.url}/settings/system/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{live.url}/settings/system/"},
        timeout=10,
    )
    assert response.status_code == 200
    worker = wait_for(lambda: ServiceBeat.objects.filter(name="worker").first(), timeout=20,
                      message="the worker ping")
    assert worker.detail["requested_by"] == "olivia"
