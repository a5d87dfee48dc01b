"""The whole cycle in a real Celery worker: an agent reports errors, gets blocked, the alert
opens, notifications go out, the agent is unblocked and the alert resolves. And a channel
that is down: retries with backoff, then failed, the alert still in the inbox."""

from __future__ import annotations

from django.core import mail

from apps.alerts.models import Alert, Delivery, TeamChannel
from tests.support import wait_for


def test_the_whole_cycle(celery_worker, make_rule, project, owner, receiver):
    from apps.agents import services as agents

    owner.email = "olivia@example.com"
    owner.save()
    slack = receiver()
    TeamChannel.objects.create(kind="slack", name="#agents", url=slack.url)
    make_rule("agent.blocked", channels=["email", "slack"], severity="warning")
    make_rule("agent.error", name="Erroring", threshold=3, window_minutes=10,
              channels=["email"], severity="critical")
    agent, _ = agents.agent_register(project=project, name="ada", kind="claude-code")

    for i in range(3):
        agents.agent_error(agent=agent, message=f"tool call failed ({i + 1})")
    agent.refresh_from_db()
    assert agent.status == "blocked"  # the agents lifecycle blocks after 3 errors

    blocked = wait_for(lambda: Alert.objects.filter(event_kind="agent.blocked", state="open").first(),
                       timeout=15, message="the blocked alert")
    erroring = wait_for(lambda: Alert.objects.filter(event_kind="agent.error", state="open").first(),
                        timeout=15, message="the error alert")
    assert blocked.agent_id == erroring.agent_id == agent.pk
    assert "error streak" in blocked.title
    wait_for(lambda: Delivery.objects.filter(notification__alert=blocked, channel="slack",
                                             state="sent").exists(), timeout=15,
             message="Slack delivery")
    wait_for(lambda: len(mail.outbox) == 2, timeout=15, message="two emails")
    assert {m.subject.split("]")[0] for m in mail.outbox} == {"[Warning", "[Critical"}
    assert "ada is blocked" in slack.json()["text"]

    agents.agent_unblock(agent=agent, actor=owner)
    wait_for(lambda: not Alert.objects.filter(state="open").exists(), timeout=15,
             message="the alerts to resolve")
    blocked.refresh_from_db()
    assert blocked.state == "resolved" and "cleared" in blocked.resolved_reason
    assert len(mail.outbox) == 2  # resolving does not page anyone


def test_a_channel_that_is_down_is_retried_then_failed(celery_worker, make_rule, agent, client,
                                                       owner, settings, receiver):
    from apps.agents import services as agents

    settings.ALERTS_RETRY_DELAYS = [0.1, 0.3]
    hook = receiver(statuses=[503])
    TeamChannel.objects.create(kind="webhook", name="ops", url=hook.url,
                               secret=TeamChannel.new_secret())
    make_rule("agent.blocked", channels=["webhook"])
    agents.agent_block(agent=agent, reason="waiting for review")

    failed = wait_for(lambda: Delivery.objects.filter(channel="webhook", state="failed").first(),
                      timeout=20, message="the delivery to fail")
    assert failed.attempts == 3 and len(hook.requests) == 3
    assert [a["ok"] for a in failed.attempt_log] == [False, False, False]
    assert "HTTP 503" in failed.last_error
    at = [r["at"] for r in hook.requests]
    assert at[1] - at[0] >= 0.1 and at[2] - at[1] >= 0.3  # backoff grows
    client.force_login(owner)
    inbox = client.get("/alerts/")
    assert "ada is blocked: waiting for review" in inbox.content.decode()
    detail = client.get(f"/alerts/{failed.notification.alert_id}/").content.decode()
    assert "Failed" in detail and "HTTP 503" in detail
