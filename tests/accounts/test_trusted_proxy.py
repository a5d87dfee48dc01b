"""Trusted-proxy sign-in (e.g. Tailscale Serve): on only with both settings, only from the
trusted addresses, only for people on the team."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.accounts import services
from apps.core.models import AuditEntry

pytestmark = pytest.mark.django_db

HEADER = "Tailscale-User-Login"
META = "HTTP_TAILSCALE_USER_LOGIN"


@pytest.fixture
def proxy(settings):
    settings.TRUSTED_PROXY_USER_HEADER = HEADER
    settings.TRUSTED_PROXY_IPS = ["100.64.0.0/10", "127.0.0.1"]
    return settings


def _who(client, login, ip="100.100.1.2"):
    response = client.get("/settings/team/", **{META: login, "REMOTE_ADDR": ip})
    return response.wsgi_request.user if response.status_code == 200 else None


def test_it_signs_in_a_member_from_a_trusted_ip(client, proxy, viewer):
    assert _who(client, "vera@github") == viewer
    entry = AuditEntry.objects.get(action="auth.sign_in")
    assert entry.data == {"method": "trusted_proxy"} and entry.ip == "100.100.1.2"
    # The session holds afterwards, without the header.
    assert client.get("/settings/team/").status_code == 200


def test_it_signs_in_a_preauthorized_login(client, proxy, owner):
    pending = services.preauth_create(actor=owner, github_login="newbie", role="viewer")
    assert _who(client, "newbie") == pending


def test_it_ignores_the_header_from_an_untrusted_ip(client, proxy, viewer):
    assert _who(client, "vera", ip="203.0.113.9") is None


def test_it_does_not_sign_in_an_unknown_login(client, proxy, team):
    assert _who(client, "stranger") is None
    assert _who(client, "") is None


def test_it_does_not_sign_in_removed_people_or_outsiders(client, proxy, owner, viewer, outsider):
    services.member_remove(actor=owner, member=viewer)
    assert _who(client, "vera") is None
    assert _who(client, "oscar") is None


@pytest.mark.parametrize("header,ips", [("", ["127.0.0.1"]), (HEADER, [])])
def test_it_is_off_unless_both_settings_are_set(client, settings, viewer, header, ips):
    settings.TRUSTED_PROXY_USER_HEADER = header
    settings.TRUSTED_PROXY_IPS = ips
    assert _who(client, "vera", ip="127.0.0.1") is None


def test_a_bad_network_stops_start_up(settings):
    settings.TRUSTED_PROXY_IPS = ["not-an-ip"]
    with pytest.raises(SystemCheckError, match="TRUSTED_PROXY_IPS"):
        call_command("check")
