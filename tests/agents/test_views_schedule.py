"""/agents/<id>/schedule/: one agent's own sleep schedule, for admins."""

from __future__ import annotations

from datetime import time

import pytest

from apps.agents.lifecycle import _pick_schedule
from apps.agents.models import SleepSchedule
from apps.core.models import AuditEntry
from tests.agents.conftest import schedule_data

pytestmark = pytest.mark.django_db


def form(**overrides):
    data = schedule_data("America/New_York", ("0", "18:00", "09:00"))
    data.update(overrides)
    return data


def url(agent) -> str:
    return f"/agents/{agent.pk}/schedule/"


def test_it_says_which_schedule_the_agent_follows(client, admin_user, agent, project):
    client.force_login(admin_user)
    body = client.get(url(agent)).content.decode()
    assert "Neither builder nor Apollo has a sleep schedule" in body
    SleepSchedule.objects.create(project=project, timezone="Europe/Paris")
    body = client.get(url(agent)).content.decode()
    assert "follows the" in body and "Europe/Paris" in body
    assert f'href="{url(agent)}"' in client.get(f"/agents/{agent.pk}/").content.decode()


def test_an_agent_gets_its_own_schedule_and_can_give_it_back(client, admin_user, agent, project):
    project_schedule = SleepSchedule.objects.create(project=project, timezone="Europe/Paris")
    client.force_login(admin_user)
    assert client.post(url(agent), form()).status_code == 302
    own = SleepSchedule.objects.get(agent=agent)
    assert own.timezone == "America/New_York"
    assert [(w.weekday, w.start, w.end) for w in own.windows.all()] == [(0, time(18), time(9))]
    # The lifecycle prefers the agent's own schedule to the project's.
    assert _pick_schedule(agent, [project_schedule, own]) == own
    assert AuditEntry.objects.filter(action="lifecycle.schedule_saved", actor=admin_user).exists()

    response = client.post(url(agent), {"remove": "1"})
    assert response.status_code == 302
    assert not SleepSchedule.objects.filter(agent=agent).exists()
    assert SleepSchedule.objects.filter(pk=project_schedule.pk).exists()
    assert AuditEntry.objects.filter(action="lifecycle.schedule_removed").exists()


def test_bad_windows_are_refused(client, admin_user, agent):
    client.force_login(admin_user)
    response = client.post(url(agent), form(**{"windows-0-start": "9 o'clock"}))
    assert response.status_code == 400 and "valid time" in response.content.decode()
    assert not SleepSchedule.objects.exists()


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_only_admins_may_change_it(client, team, agent, who):
    client.force_login(team[who])
    assert client.get(url(agent)).status_code == 403
    assert client.post(url(agent), form()).status_code == 403
    assert not SleepSchedule.objects.exists()


def test_an_unknown_agent_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/agents/999999/schedule/").status_code == 404
