from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.core.events import record_event
from tests.realtime import seed

pytestmark = pytest.mark.django_db


def test_it_lists_every_event_newest_first(client, viewer, project):
    a = seed.agent(project, "fixer", status="blocked", reason="needs input")
    client.force_login(viewer)
    body = client.get(reverse("activity")).content.decode()
    assert body.index("agent.blocked") < body.index("agent.registered")
    assert "Blocked: needs input" in body and 'ws-connect="/ws/activity/?project=all"' in body
    assert f'href="/agents/{a.pk}/"' in body


def test_it_filters_by_kind_family_and_agent(client, viewer, project):
    a = seed.agent(project, "fixer", status="working")
    b = seed.agent(project, "other", status="working")
    record_event("hook.notification", project=project, agent=b, data={"message": "ping"})
    client.force_login(viewer)
    body = client.get(reverse("activity") + "?kind=hook.").content.decode()
    assert "hook.notification" in body and "agent.registered" not in body
    body = client.get(reverse("activity") + f"?agent={a.pk}").content.decode()
    assert "fixer" in body and "hook.notification" not in body
    assert client.get(reverse("activity") + "?agent=abc&kind=%27").status_code == 200


def test_it_pages_with_a_keyset(client, viewer, project):
    a = seed.agent(project, "chatty")
    for i in range(120):
        record_event("hook.tick", project=project, agent=a, data={"message": f"tick {i:03d}"})
    client.force_login(viewer)
    body = client.get(reverse("activity")).content.decode()
    assert body.count('class="event ') == 50
    assert 'hx-trigger="revealed"' in body
    more = (
        re.search(r'<a href="(/activity/\?[^"]+)">Older events', body)
        .group(1)
        .replace("&amp;", "&")
    )
    page2 = client.get(more + "&partial=page").content.decode()
    assert page2.count('class="event ') == 50 and "tick 069" in page2 and "tick 070" not in page2
    assert "<html" not in page2


def test_it_refuses_outsiders(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("activity")).status_code == 403
