"""Scheduled reports: what a report says (the analytics totals of its period, anomalies against
the four periods before), the schedule (each period once, even with two workers; a worker that
was off sends only the latest period), delivery through the email and Slack transports, the
pages, the Markdown export, the command, and a screenshot of a report."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.agents.models import Agent, AgentEvent, AgentTask
from apps.alerts.dispatch import delivery_attempt
from apps.alerts.models import (
    Alert,
    AlertRule,
    Delivery,
    Notification,
    PersonalSettings,
    TeamChannel,
)
from apps.telemetry import analytics
from apps.telemetry.digest import Digest, markdown
from apps.telemetry.models import Report, ReportSubscription, TokenUsage
from apps.telemetry.reports import build_content, latest_period, period_starting
from apps.telemetry.rollups import roll_up
from apps.telemetry.services import report_for, reports_send_due
from tests.alerts.conftest import Receiver
from tests.conftest import login_browser, screenshot
from tests.support import in_threads
from tests.telemetry.seed import seed

_keys = itertools.count()


@pytest.fixture(autouse=True)
def _report_settings(settings):
    settings.TELEMETRY_ROLLUP_LAG_SECONDS = 0
    settings.SITE_URL = "http://switchboard.test"
    settings.ALERTS_RETRY_DELAYS = [0.05]
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True  # the fake Slack listens on 127.0.0.1


# --- making data ---------------------------------------------------------------------------
def spend(agent, ts, cost, *, n=1, task=None):
    TokenUsage.objects.bulk_create([
        TokenUsage(project=agent.project, agent=agent, key=f"k{next(_keys)}", model=agent.model,
                   ts=ts, tokens_input=1000, tokens_output=200, cost_usd=Decimal(cost),
                   cost_source="client", task=task)
        for _ in range(n)])


def calls(agent, ts, n, *, latency=120, errors=0):
    AgentEvent.objects.bulk_create([
        AgentEvent(project=agent.project, agent=agent, kind="span.finished", ts=ts,
                   data={"tool_name": "Bash", "latency_ms": latency,
                         "outcome": "error" if i < errors else "ok"})
        for i in range(n)])


def completed(agent, ts, n):
    AgentEvent.objects.bulk_create([AgentEvent(project=agent.project, agent=agent,
                                                kind="task.completed", ts=ts, data={})
                                    for _ in range(n)])


def weekly_history(agent, cost_per_call, *, weeks=5):
    """`weeks` weeks up to the latest complete one: each day 12 model calls and 12 tool calls
    (at cost_per_call[i] each in week i) and 2 completed tasks."""
    latest = latest_period("weekly")
    for i in range(weeks):
        period = latest.earlier(weeks - 1 - i)
        for day in range(7):
            noon = period.start + timedelta(days=day, hours=12)
            spend(agent, noon, cost_per_call[i], n=12)
            calls(agent, noon, 12)
            completed(agent, noon, 2)
    roll_up()
    return latest


@pytest.fixture
def crew(project):
    return [Agent.objects.create(project=project, name=f"bot-{i}", model=m, external_id=f"b{i}")
            for i, m in enumerate(("claude-sonnet-4-5", "gpt-5"))]


def subscribe(user, cadence="weekly", *, project=None, channels=("email",), last=None):
    user.email = user.email or f"{user.username}@example.com"
    user.save()
    return ReportSubscription.objects.create(user=user, cadence=cadence, project=project,
                                             channels=list(channels), last_period_end=last)


def deliver_all():
    for d in Delivery.objects.filter(state__in=["pending", "retrying"]):
        delivery_attempt(delivery_id=d.pk)
    return list(Delivery.objects.order_by("id"))


# --- content ----------------------------------------------------------------------------------
def test_the_content_is_the_analytics_totals_of_the_period(db, project, other_project, crew):
    period = latest_period("weekly")
    seed(project, agents=3, days=14, per_hour=2, now=period.end - timedelta(minutes=1))
    seed(other_project, agents=1, days=3, per_hour=2, seed=3, now=period.end)
    issue_task = AgentTask.objects.create(project=project, agent=crew[0], title="Fix login",
                                          linear_issue_id="lin-42")
    spend(crew[0], period.start + timedelta(days=2), "3.5", n=2, task=issue_task)
    completed(crew[0], period.start + timedelta(days=2), 4)
    roll_up()

    content = build_content(period=period, project=project)
    filters = analytics.Filters(projects=(project.pk,))
    by_agent = analytics.totals(window=period.window, filters=filters, group_by="agent")
    total = analytics.grand_total(by_agent)
    head = content["headline"]
    assert Decimal(head["cost_usd"]["current"]) == total.current.cost_usd > 0
    assert Decimal(head["cost_usd"]["previous"]) == total.previous.cost_usd > 0
    assert head["tokens"] == {"current": total.current.total_tokens,
                              "previous": total.previous.total_tokens}
    assert head["tool_calls"]["current"] == total.current.tool_calls
    assert head["error_rate"]["current"] == analytics.rounded(total.current.error_rate)
    assert head["tasks"]["current"] == 4
    # The top lists are the costliest rows of the same totals, labels included.
    assert [(a["key"], Decimal(a["cost_usd"])) for a in content["top"]["agent"]] == [
        (r.current.key, r.current.cost_usd) for r in by_agent if r.current.calls][:5]
    by_model = analytics.totals(window=period.window, filters=filters, group_by="model")
    assert [m["label"] for m in content["top"]["model"]] == [
        r.current.label for r in by_model if r.current.calls][:5]
    assert [(i["key"], i["cost_usd"]) for i in content["top"]["issue"]] == [("lin-42", "7.00000000")]
    # The other project is not in this one's report, and is in the report of all projects.
    everything = build_content(period=period, project=None)
    assert Decimal(everything["headline"]["cost_usd"]["current"]) > total.current.cost_usd
    assert everything["scope"]["name"] == "All projects"
    assert content["period"]["start"] == period.start.isoformat()


def test_alerts_and_blocked_agents(db, project, crew):
    period = latest_period("daily")
    noisy = AlertRule.objects.create(name="Blocked too long", event_kind="agent.blocked")
    quiet = AlertRule.objects.create(name="Errors", event_kind="agent.error")
    inside = period.start + timedelta(hours=3)
    for i, (rule, count) in enumerate([(noisy, 5), (noisy, 2), (quiet, 1)]):
        Alert.objects.create(rule=rule, project=project, agent=crew[0], dedupe_key=f"k{i}",
                             state="resolved", event_kind=rule.event_kind, title="t",
                             count=count, opened_at=inside)
    Alert.objects.create(rule=quiet, project=project, dedupe_key="old", state="resolved",
                         event_kind="x", title="t", opened_at=period.start - timedelta(hours=1))
    AgentEvent.objects.bulk_create([
        AgentEvent(project=project, agent=crew[0], kind="alert.opened", ts=inside, data={}),
        AgentEvent(project=project, agent=crew[0], kind="alert.resolved", ts=inside, data={}),
        AgentEvent(project=project, agent=crew[1], kind="agent.unblocked",
                   ts=inside + timedelta(hours=2),
                   data={"from": "blocked", "to": "working", "since": inside.isoformat()}),
    ])
    # Blocked since the evening before the period's end, and still blocked now.
    Agent.objects.filter(pk=crew[0].pk).update(status="blocked",
                                               status_since=period.end - timedelta(hours=3))
    roll_up()
    content = build_content(period=period, project=project)
    assert content["alerts"]["opened"]["current"] == 1
    assert content["alerts"]["resolved"]["current"] == 1
    assert content["alerts"]["rules"] == [
        {"rule_id": noisy.pk, "name": "Blocked too long", "alerts": 2, "fired": 7},
        {"rule_id": quiet.pk, "name": "Errors", "alerts": 1, "fired": 1},
    ]
    blocked = content["blocked"]
    assert [(b["label"], b["seconds"], b["still_blocked"]) for b in blocked] == [
        ("bot-0", 3 * 3600, True), ("bot-1", 2 * 3600, False)]
    assert blocked[1]["unblocks"] == 1


# --- anomalies --------------------------------------------------------------------------------
def _flags(content):
    return {c["metric"] for c in content["anomalies"]["checks"] if c["flagged"]}


def test_a_costly_week_after_four_quiet_ones_is_flagged(db, project, crew):
    period = weekly_history(crew[0], ["0.10", "0.11", "0.09", "0.10", "0.30"])
    checks = {c["metric"]: c for c in build_content(period=period, project=project)
              ["anomalies"]["checks"]}
    assert _flags({"anomalies": {"checks": list(checks.values())}}) == {
        "cost", "cost_per_task", "cost_per_tool_call"}
    per_call = checks["cost_per_tool_call"]
    assert per_call["current"] == pytest.approx(0.30)
    assert per_call["baseline"] == pytest.approx(0.10)
    assert per_call["change_pct"] == pytest.approx(200.0)
    assert per_call["baseline_periods"] == 4
    assert not checks["error_rate"]["flagged"] and not checks["p95_ms"]["flagged"]


def test_steady_weeks_flag_nothing(db, project, crew):
    period = weekly_history(crew[0], ["0.10", "0.12", "0.09", "0.11", "0.12"])
    assert _flags(build_content(period=period, project=project)) == set()


def test_without_enough_history_nothing_is_flagged(db, project, crew):
    period = weekly_history(crew[0], ["0.10", "0.40"], weeks=2)
    content = build_content(period=period, project=project)
    assert _flags(content) == set()
    per_call = next(c for c in content["anomalies"]["checks"] if c["metric"] == "cost_per_tool_call")
    assert per_call["baseline"] is None and per_call["baseline_periods"] == 1


def test_errors_and_latency_going_up_are_flagged(db, project, crew):
    latest = latest_period("weekly")
    for i in range(5):
        noon = latest.earlier(4 - i).start + timedelta(days=2, hours=12)
        spend(crew[0], noon, "0.1", n=60)
        calls(crew[0], noon, 100, latency=4000 if i == 4 else 150, errors=12 if i == 4 else 1)
    roll_up()
    assert _flags(build_content(period=latest, project=project)) == {"error_rate", "p95_ms"}


# --- the schedule -------------------------------------------------------------------------------
def test_the_beat_task_sends_each_period_once(db, project, crew, viewer, admin_user):
    period = weekly_history(crew[0], ["0.1"] * 5)
    subscribe(viewer, "weekly")
    subscribe(admin_user, "weekly", project=project)
    assert reports_send_due() == 2
    assert reports_send_due() == 0  # the second beat finds nothing to do
    assert Report.objects.count() == 2  # all projects, and the project
    assert Notification.objects.count() == 2
    assert Delivery.objects.count() == 2
    assert set(ReportSubscription.objects.values_list("last_period_end", flat=True)) == {period.end}


def test_one_report_per_period_and_scope_is_shared(db, project, crew, team):
    weekly_history(crew[0], ["0.1"] * 5)
    for user in (team["owner"], team["admin"], team["viewer"]):
        subscribe(user, "weekly")
    assert reports_send_due() == 3
    report = Report.objects.get()
    assert set(Notification.objects.values_list("subject", flat=True)) == {f"report:{report.pk}"}


def test_outsiders_and_quiet_periods_get_nothing(db, project, crew, outsider, viewer):
    subscribe(outsider, "daily")
    subscribe(viewer, "daily")
    roll_up()
    assert reports_send_due() == 0  # nothing happened yesterday: no report, no message
    assert Report.objects.count() == 0
    assert ReportSubscription.objects.get(user=viewer).last_period_end == latest_period("daily").end
    assert ReportSubscription.objects.get(user=outsider).last_period_end is None


def test_it_waits_for_the_rollups_to_reach_the_end_of_the_period(db, project, crew, viewer):
    period = latest_period("daily")
    spend(crew[0], period.start + timedelta(hours=5), "1", n=3)
    subscribe(viewer, "daily")
    assert reports_send_due() == 0  # the usage rollup has not run yet
    assert ReportSubscription.objects.get().last_period_end is None
    roll_up()
    assert reports_send_due() == 1


def test_a_worker_off_for_three_days_sends_only_the_latest_period(db, project, crew, viewer):
    today = timezone.localdate()
    for back in range(1, 6):
        spend(crew[0], period_starting("daily", today - timedelta(days=back)).start
              + timedelta(hours=10), "0.5", n=4)
    roll_up()
    four_days_ago = period_starting("daily", today - timedelta(days=4))
    sub = subscribe(viewer, "daily", last=four_days_ago.end)  # the last one sent
    assert reports_send_due() == 1
    yesterday = latest_period("daily")
    [report] = Report.objects.all()
    assert (report.period_start, report.period_end) == (yesterday.start, yesterday.end)
    sub.refresh_from_db()
    assert sub.last_period_end == yesterday.end
    assert reports_send_due() == 0
    assert Notification.objects.count() == 1


def test_a_missed_monday_report_goes_out_later_that_week_once(db, project, crew, viewer):
    period = weekly_history(crew[0], ["0.1"] * 5)
    subscribe(viewer, "weekly", last=period.start)  # sent the week before
    thursday = period.end + timedelta(days=3, hours=9)  # the worker was off since Sunday
    assert reports_send_due(now=thursday) == 1
    assert reports_send_due(now=thursday + timedelta(hours=1)) == 0
    assert reports_send_due(now=period.end + timedelta(days=6, hours=23)) == 0
    assert Report.objects.get().period_end == period.end


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_once(project, crew, viewer, admin_user):
    import apps.telemetry.reports as reports

    weekly_history(crew[0], ["0.1"] * 5)
    subscribe(viewer, "weekly")
    subscribe(admin_user, "weekly")
    together = threading.Barrier(2, timeout=20)
    build = reports.build_content

    def build_in_step(**kwargs):  # both workers have read the due list before either claims
        together.wait()
        return build(**kwargs)

    reports.build_content = build_in_step
    try:
        results = in_threads(reports_send_due, 2, timeout=30)
    finally:
        reports.build_content = build
    assert sorted(results) in ([0, 2], [1, 1])
    assert Report.objects.count() == 1
    assert Notification.objects.count() == 2
    assert sorted(Delivery.objects.values_list("user__username", flat=True)) == ["adam", "vera"]


def test_changing_the_digest_starts_with_the_next_period(client, db, project, crew, viewer):
    weekly_history(crew[0], ["0.1"] * 5)
    client.force_login(viewer)
    viewer.email = "vera@example.com"
    viewer.save()
    r = client.post("/reports/digest/", {"cadence": "weekly", "project": "", "channels": ["email"]})
    assert r.status_code == 302
    sub = ReportSubscription.objects.get(user=viewer)
    assert (sub.cadence, sub.project, sub.channels) == ("weekly", None, ["email"])
    assert sub.last_period_end == latest_period("weekly").end
    assert reports_send_due() == 0  # last week was before the digest existed
    r = client.post("/reports/digest/", {"cadence": "daily", "channels": []})
    assert r.status_code == 400 and "Choose email, Slack or both." in r.content.decode()
    client.post("/reports/digest/", {"cadence": "off"})
    assert ReportSubscription.objects.get(user=viewer).cadence == "off"


# --- delivery ------------------------------------------------------------------------------------
def test_the_digest_is_mailed_with_a_text_and_an_html_body(db, project, crew, viewer):
    weekly_history(crew[0], ["0.10", "0.11", "0.09", "0.10", "0.30"])
    PersonalSettings.objects.create(user=viewer, email="vera@work.example")
    subscribe(viewer, "weekly")
    reports_send_due()
    [d] = deliver_all()
    assert (d.channel, d.state, d.target) == ("email", "sent", "vera@work.example"), d.attempt_log
    report = Report.objects.get()
    [msg] = mail.outbox
    assert msg.to == ["vera@work.example"]
    assert msg.subject == report.title and msg.subject.startswith("Weekly report · All projects")
    assert msg.extra_headers["X-Switchboard-Event"] == "report.digest"
    assert "## Headline" in msg.body and "**Cost per tool call** up" in msg.body
    assert f"http://switchboard.test/reports/{report.pk}/" in msg.body
    html, mimetype = msg.alternatives[0]
    assert mimetype == "text/html"
    assert "Open the report" in html and "Cost per tool call" in html and "bot-0" in html


def _slack_protocol(req):
    """What a Slack incoming webhook accepts: JSON with a non-empty `text`; Block Kit blocks
    (at most 50) of known types; mrkdwn texts of at most 3000 characters."""
    if req["headers"].get("content-type") != "application/json":
        return "invalid_payload"
    body = json.loads(req["body"])
    if not isinstance(body.get("text"), str) or not body["text"]:
        return "no_text"
    blocks = body.get("blocks", [])
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        texts = ([block["text"]] if block["type"] == "section"
                 else block.get("elements", []) if block["type"] == "context" else None)
        if texts is None or not texts:
            return "invalid_blocks"
        for t in texts:
            if t.get("type") != "mrkdwn" or not 0 < len(t.get("text", "")) <= 3000:
                return "invalid_blocks"
    return None


@pytest.fixture
def slack():
    receiver = Receiver(check=_slack_protocol)
    yield receiver
    receiver.close()


def test_slack_gets_one_compact_post_per_report(db, project, crew, viewer, admin_user, slack):
    Agent.objects.filter(pk=crew[0].pk).update(name="<b>bot</b> & co")
    weekly_history(crew[0], ["0.10", "0.11", "0.09", "0.10", "0.30"])
    TeamChannel.objects.create(kind="slack", name="#agents", url=slack.url + "/services/T/B/x")
    TeamChannel.objects.create(kind="slack", name="#pager", url=slack.url + "/pager",
                               min_severity="critical")
    subscribe(viewer, "weekly", channels=["slack"])
    subscribe(admin_user, "weekly", channels=["email", "slack"])
    reports_send_due()
    sent = deliver_all()
    assert sorted((d.channel, d.state) for d in sent) == [("email", "sent"), ("slack", "sent")]
    [req] = slack.requests  # once, however many asked; never to the critical-only channel
    assert req["problem"] is None and req["path"] == "/services/T/B/x"
    body = slack.json()
    report = Report.objects.get()
    first = body["blocks"][0]["text"]["text"]
    assert first.startswith(f"*<http://switchboard.test/reports/{report.pk}/|Weekly report")
    assert "*Cost* $" in first and "*Tokens*" in first
    assert ":warning: *Cost per tool call* up" in body["blocks"][1]["text"]["text"]
    assert "&lt;b&gt;bot&lt;/b&gt; &amp; co" in json.dumps(body)
    assert body["text"].startswith("Weekly report") and len(body["blocks"]) <= 5


def test_a_failing_slack_is_retried_like_an_alert(db, project, crew, viewer, slack):
    slack.statuses = [500, 200]
    weekly_history(crew[0], ["0.1"] * 5)
    TeamChannel.objects.create(kind="slack", name="#agents", url=slack.url)
    subscribe(viewer, "weekly", channels=["slack"])
    reports_send_due()
    [d] = deliver_all()
    assert d.state == "retrying"
    Delivery.objects.filter(pk=d.pk).update(next_attempt_at=timezone.now())
    [d] = deliver_all()
    assert (d.state, d.attempts, len(slack.requests)) == ("sent", 2, 2)


def test_send_me_a_test_digest_now(client, db, project, crew, viewer):
    weekly_history(crew[0], ["0.1"] * 5)
    client.force_login(viewer)
    r = client.post("/reports/digest/test/", follow=True)
    assert "Add an email address" in r.content.decode()
    viewer.email = "vera@example.com"
    viewer.save()
    TeamChannel.objects.create(kind="slack", name="#agents", url="http://127.0.0.1:9/x")
    r = client.post("/reports/digest/test/", follow=True)
    assert "Test digest sent" in r.content.decode()
    [d] = deliver_all()  # email only: a test never posts to the team's Slack
    assert (d.channel, d.state) == ("email", "sent")
    assert mail.outbox[0].subject.startswith("Test: Weekly report · All projects")
    assert not ReportSubscription.objects.filter(user=viewer).exists()
    assert "Test: Weekly report" in client.get("/reports/").content.decode()


# --- pages -------------------------------------------------------------------------------------
@pytest.fixture
def report(db, project, crew):
    period = latest_period("weekly")
    spend(crew[0], period.start + timedelta(days=1), "2.5", n=3)
    calls(crew[0], period.start + timedelta(days=1), 5)
    roll_up()
    return report_for(period=period, project=project)


@pytest.mark.parametrize("who", ["owner", "admin", "viewer", "outsider", "anonymous"])
def test_the_permission_matrix(client, team, report, who):
    if who != "anonymous":
        client.force_login(team[who])
    pages = [("get", "/reports/"), ("get", f"/reports/{report.pk}/"),
             ("get", f"/reports/{report.pk}.md"), ("post", "/reports/digest/"),
             ("post", "/reports/digest/test/")]
    for method, url in pages:
        r = getattr(client, method)(url, {"cadence": "off"} if url.endswith("digest/") else {})
        if who == "anonymous":
            assert r.status_code == 302 and "/login/" in r["Location"], url
        elif who == "outsider":
            assert r.status_code == 403, url
        else:
            assert r.status_code in (200, 302), (url, r.status_code)
    if who == "viewer":
        assert client.get("/reports/999999/").status_code == 404
        assert client.get("/reports/").status_code == 200


def test_the_report_page_shows_the_digest(client, viewer, project, crew):
    period = weekly_history(crew[0], ["0.10", "0.11", "0.09", "0.10", "0.30"])
    report = report_for(period=period, project=project)
    client.force_login(viewer)
    body = client.get(f"/reports/{report.pk}/").content.decode()
    assert "Apollo · " + period.label in body
    assert "3 anomalies against the mean of the 4 previous weeks" in body
    assert "tone-bad" in body and "bot-0" in body and "Download Markdown" in body
    listing = client.get("/reports/").content.decode()
    assert f'href="/reports/{report.pk}/"' in listing and "3 flagged" in listing


def test_the_list_is_newest_first_paginated_and_has_an_empty_state(client, viewer, project):
    client.force_login(viewer)
    body = client.get("/reports/").content.decode()
    assert "No reports yet" in body and "Send me a test digest now" in body
    latest = latest_period("daily")
    content = build_content(period=latest, project=None)
    for n in range(25):
        period = latest.earlier(n)
        report_for(period=period, project=None,
                   content={**content, "period": {**content["period"], "label": period.label}})
    page1 = client.get("/reports/").content.decode()
    assert "Page 1 of 2" in page1 and "No reports yet" not in page1
    labels = [latest.earlier(n).label for n in range(25)]
    assert page1.index(labels[0]) < page1.index(labels[1]) < page1.index(labels[19])
    assert labels[20] not in page1
    assert labels[24] in client.get("/reports/?page=2").content.decode()


def test_the_markdown_export(client, viewer, project, crew):
    Agent.objects.filter(pk=crew[0].pk).update(name="fix|it *now*")
    period = weekly_history(crew[0], ["0.10", "0.11", "0.09", "0.10", "0.30"])
    report = report_for(period=period, project=project)
    client.force_login(viewer)
    r = client.get(f"/reports/{report.pk}.md")
    assert r.status_code == 200
    assert r["Content-Type"] == "text/markdown; charset=utf-8"
    assert r["Content-Disposition"] == (
        f'attachment; filename="switchboard-weekly-apollo-{period.first_day:%Y-%m-%d}.md"')
    text = r.content.decode()
    assert text.startswith(f"# Weekly report · Apollo · {period.label}\n")
    cost = Digest(report.content).cost_kpi
    assert f"| Cost | {cost.value} | {cost.previous} | {cost.delta.text} |" in text
    assert "- **Cost per tool call** up 200 %: $0.30 against $0.10" in text
    assert "| fix\\|it \\*now\\* | " in text  # a name cannot break the table
    assert text.rstrip().endswith(f"[Open in Switchboard](http://switchboard.test/reports/{report.pk}/)")
    assert text == markdown(Digest(report.content, url=f"http://switchboard.test/reports/{report.pk}/"))


def test_a_report_reads_the_same_after_its_rows_are_gone(client, viewer, report):
    client.force_login(viewer)
    before = client.get(f"/reports/{report.pk}.md").content
    TokenUsage.objects.all().delete()
    AgentEvent.objects.all().delete()
    Agent.objects.all().delete()
    from apps.telemetry.models import EventRollup, SpanRollup, UsageRollup

    for model in (EventRollup, SpanRollup, UsageRollup):
        model.objects.all().delete()
    assert client.get(f"/reports/{report.pk}.md").content == before
    assert "bot-0" in client.get(f"/reports/{report.pk}/").content.decode()


# --- the command -----------------------------------------------------------------------------------
def test_the_command_builds_and_prints_the_latest_report(db, project, crew):
    period = weekly_history(crew[0], ["0.1"] * 5)
    out = StringIO()
    call_command("telemetry", "report", "--cadence", "weekly", "--project", "apollo", stdout=out)
    assert out.getvalue().startswith(f"# Weekly report · Apollo · {period.label}\n")
    assert "## Top agents by cost" in out.getvalue()
    assert Report.objects.get().project == project
    again = StringIO()
    call_command("telemetry", "report", "--cadence", "weekly", "--project", "apollo", stdout=again)
    assert again.getvalue() == out.getvalue() and Report.objects.count() == 1
    with pytest.raises(CommandError, match="No project"):
        call_command("telemetry", "report", "--cadence", "daily", "--project", "nope")


# --- in a browser -------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.live
def test_a_report_in_chromium(live, page, viewer, project):
    from apps.linear.models import LinearIssue, LinearTeam

    latest = latest_period("weekly")
    crew = seed(project, agents=5, days=35, per_hour=2, now=latest.end - timedelta(minutes=5))
    for day in range(7):  # the last week, one agent spent far more per call
        spend(crew[1], latest.start + timedelta(days=day, hours=11), "0.9", n=12)
    team = LinearTeam.objects.create(linear_id="t1", key="ENG", name="Engineering")
    for n, (title, cost) in enumerate([("Flaky login test on CI", "4.2"),
                                       ("Migrate billing to the new API", "2.75"),
                                       ("Dark mode for the board", "0.9")]):
        LinearIssue.objects.create(linear_id=f"i{n}", identifier=f"ENG-{101 + n}", title=title,
                                   team=team)
        task = AgentTask.objects.create(project=project, agent=crew[n], title=title,
                                        linear_issue_id=f"i{n}")
        spend(crew[n], latest.start + timedelta(days=n + 1), cost, n=3, task=task)
        completed(crew[n], latest.start + timedelta(days=n + 1, hours=2), 3 + n)
    rule = AlertRule.objects.create(name="Agent blocked", event_kind="agent.blocked")
    for i in range(4):
        Alert.objects.create(rule=rule, project=project, agent=crew[i % 2], dedupe_key=f"a{i}",
                             state="resolved", event_kind="agent.blocked", title="blocked",
                             count=i + 1, opened_at=latest.start + timedelta(days=i, hours=9))
    Agent.objects.filter(pk=crew[3].pk).update(status="blocked",
                                               status_since=latest.end - timedelta(hours=7))
    roll_up()
    report = report_for(period=latest, project=project)
    login_browser(page, live.url, viewer.username)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"{live.url}/reports/{report.pk}/")
    assert page.locator("h1").inner_text().endswith(f"Apollo · {latest.label}")
    assert page.locator(".report-kpis .stat").count() == 7
    assert page.locator("text=ENG-101 Flaky login test on CI").count() == 1
    assert page.locator(".banner-bad").count() == 1
    screenshot(page, "report-detail")
    page.goto(f"{live.url}/reports/")
    assert page.locator(".report-list tbody tr").count() == 1
    screenshot(page, "reports-list")
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live.url}/reports/{report.pk}/")
    screenshot(page, "report-detail-dark")
    assert problems == []
