"""/projects/<slug>/lifecycle/: a project's thresholds and sleep schedule, for admins."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from apps.agents.lifecycle import window_active
from apps.agents.models import LifecyclePolicy, SleepSchedule
from apps.core.models import AuditEntry
from tests.agents.conftest import schedule_data

pytestmark = pytest.mark.django_db
URL = "/projects/apollo/lifecycle/"


def form(**overrides):
    data = {
        "policy-idle_after": "5", "policy-offline_after": "15", "policy-error_window": "10",
        "policy-block_after_errors": "3", "policy-sleep_after_errors": "5",
        **schedule_data("Europe/Berlin", ("4", "22:00", "07:00")),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_it_shows_the_defaults(client, admin_user, project):
    client.force_login(admin_user)
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="policy-idle_after" value="5"' in body
    assert 'name="policy-offline_after" value="15"' in body
    assert 'aria-current="page">Lifecycle</a>' in body


def test_it_saves_thresholds_and_a_schedule_across_midnight(client, admin_user, project):
    client.force_login(admin_user)
    response = client.post(URL, form(**{"policy-idle_after": "2", "policy-offline_after": "30"}))
    assert response.status_code == 302
    policy = LifecyclePolicy.objects.get(project=project)
    assert (policy.idle_after_seconds, policy.offline_after_seconds) == (120, 1800)
    schedule = SleepSchedule.objects.get(project=project, agent=None)
    assert schedule.timezone == "Europe/Berlin" and schedule.enabled
    assert [(w.weekday, w.start, w.end) for w in schedule.windows.all()] == [
        (4, time(22), time(7))
    ]
    # Friday 23:30 and Saturday 06:30 in Berlin are inside; Saturday 08:00 is not.
    assert window_active(schedule, datetime(2026, 3, 6, 22, 30, tzinfo=UTC))
    assert window_active(schedule, datetime(2026, 3, 7, 5, 30, tzinfo=UTC))
    assert not window_active(schedule, datetime(2026, 3, 7, 7, 0, tzinfo=UTC))
    assert AuditEntry.objects.filter(action="lifecycle.policy_saved", actor=admin_user).exists()
    assert AuditEntry.objects.filter(action="lifecycle.schedule_saved").exists()


def test_existing_windows_are_kept_or_removed(client, admin_user, project):
    client.force_login(admin_user)
    client.post(URL, form(**{"windows-1-weekday": "5", "windows-1-start": "00:00",
                             "windows-1-end": "23:59"}))
    page = client.get(URL).content.decode()
    assert 'name="windows-INITIAL_FORMS" value="2"' in page
    data = form(**{
        "windows-TOTAL_FORMS": "2", "windows-INITIAL_FORMS": "2",
        "windows-1-weekday": "5", "windows-1-start": "00:00", "windows-1-end": "23:59",
        "windows-1-DELETE": "on",
    })
    assert client.post(URL, data).status_code == 302
    schedule = SleepSchedule.objects.get(project=project, agent=None)
    assert [w.weekday for w in schedule.windows.all()] == [4]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"policy-offline_after": "3"}, "offline_after", "longer than the idle time"),
        ({"policy-sleep_after_errors": "2"}, "sleep_after_errors", "at least the number"),
        ({"policy-idle_after": "0"}, "idle_after", "greater than or equal to 1"),
        ({"policy-idle_after": "soon"}, "idle_after", "whole number"),
        ({"schedule-timezone": "Mars/Olympus"}, "timezone", "Select a valid choice"),
        ({"windows-0-start": "25:00"}, "start", "valid time"),
        ({"windows-0-end": "22:00"}, "end", "same time"),
    ],
)
def test_it_rejects_bad_input_and_saves_nothing(client, admin_user, project, overrides, field,
                                                message):
    client.force_login(admin_user)
    response = client.post(URL, form(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not LifecyclePolicy.objects.exists() and not SleepSchedule.objects.exists()


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_only_admins_may_change_it(client, team, project, who):
    client.force_login(team[who])
    assert client.get(URL).status_code == 403
    assert client.post(URL, form()).status_code == 403
    assert not LifecyclePolicy.objects.exists()


def test_anonymous_people_are_sent_to_sign_in(client, project):
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_unknown_project_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/projects/nope/lifecycle/").status_code == 404


def test_the_sweep_uses_the_saved_thresholds(client, admin_user, project):
    from datetime import timedelta

    from apps.agents import lifecycle
    from apps.agents.models import Agent
    from apps.agents.services import agent_register, agent_set_status

    client.force_login(admin_user)
    client.post(URL, form(**{"policy-idle_after": "2", "policy-offline_after": "30"}))
    agent, _ = agent_register(project=project, name="ada", external_id="s-1")
    agent = agent_set_status(agent=agent, status="working")
    later = agent.last_heartbeat_at + timedelta(minutes=3)  # past 2, well before 5 (default)
    lifecycle.sweep_all(now=later)
    agent = Agent.objects.get(pk=agent.pk)
    assert agent.status == "blocked" and agent.status_reason == lifecycle.IDLE_REASON
