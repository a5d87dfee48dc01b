"""Owners set model prices in the admin; the saves go through the services (audited)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.core.models import AuditEntry
from apps.telemetry.models import ModelPrice
from apps.telemetry.prices import usage_cost

pytestmark = pytest.mark.django_db


def test_an_owner_adds_changes_and_deletes_a_price(client, owner):
    client.force_login(owner)
    r = client.post(
        "/admin/telemetry/modelprice/add/",
        {"model": "My-Llama", "input": "1", "output": "2", "cache_read": "", "cache_write": ""},
    )
    assert r.status_code == 302
    price = ModelPrice.objects.get()
    assert price.model == "my-llama"
    assert usage_cost(model="my-llama", tokens={"tokens_output": 1_000_000}).usd == 2
    client.post(
        f"/admin/telemetry/modelprice/{price.pk}/change/",
        {"model": "my-llama", "input": "1", "output": "3", "cache_read": "0.1", "cache_write": ""},
    )
    assert usage_cost(model="my-llama", tokens={"tokens_output": 1_000_000}).usd == 3
    client.post(f"/admin/telemetry/modelprice/{price.pk}/delete/", {"post": "yes"})
    assert not ModelPrice.objects.exists()
    assert usage_cost(model="my-llama", tokens={"tokens_output": 1}).usd == Decimal(0)
    actions = AuditEntry.objects.filter(action__startswith="telemetry.").order_by("id")
    assert list(actions.values_list("action", flat=True)) == [
        "telemetry.price_created",
        "telemetry.price_changed",
        "telemetry.price_deleted",
    ]


def test_usage_is_read_only_and_only_for_owners(client, owner, admin_user, agent):
    from apps.telemetry.services import usage_record

    usage_record(agent=agent, key="msg_1", tokens={"tokens_input": 5})
    client.force_login(owner)
    assert b"msg_1" in client.get("/admin/telemetry/tokenusage/").content
    assert client.get("/admin/telemetry/tokenusage/add/").status_code == 403
    client.force_login(admin_user)
    assert client.get("/admin/telemetry/modelprice/").status_code == 302  # to the admin login
