"""Tokens and cost where people look: the agent page, the agents list and the overview."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.telemetry.services import usage_record
from tests.realtime import seed

pytestmark = pytest.mark.django_db
PRICES = {"test-model": {"input": 1, "output": 2, "cache_read": 0.1, "cache_write": 1.25}}


@pytest.fixture(autouse=True)
def _prices(settings):
    from apps.telemetry.prices import forget_overrides

    forget_overrides()
    settings.SWITCHBOARD_MODEL_PRICES = PRICES


def record(agent, key, *, i=0, o=0, cr=0, cw=0, r=0, model="test-model", turn=0, **kw):
    return usage_record(
        agent=agent,
        key=key,
        model=model,
        turn=turn,
        tokens={
            "tokens_input": i,
            "tokens_output": o,
            "tokens_cache_read": cr,
            "tokens_cache_write": cw,
            "tokens_reasoning": r,
        },
        **kw,
    )


def test_the_agent_page_shows_totals_per_turn_and_sub_agents(client, viewer, project):
    a = seed.agent(project, "main")
    sub = seed.agent(project, "helper", parent=a)
    # 1M input at $1, 500k cache read at $0.10, 100k cache write at $1.25, 250k output at $2.
    record(a, "msg_1", i=1_000_000, cr=500_000, cw=100_000, o=250_000, turn=1)
    record(a, "msg_1", i=1_000_000, cr=500_000, cw=100_000, o=250_000, turn=1)  # a retry
    record(a, "msg_2", o=1_000, r=4_000, turn=2)
    record(sub, "msg_s", i=2_000_000)
    client.force_login(viewer)
    body = client.get(reverse("agent-detail", args=[a.pk])).content.decode()
    panel = body[body.index('id="agent-usage"') : body.index('id="trace-h"')]
    assert "1,000,000" in panel and "500,000" in panel and "100,000" in panel
    assert "251,000" in panel and "4,000" in panel
    assert "$1.68" in panel  # 1 + 0.05 + 0.125 + 0.5 + 0.002 + 0.008 (reasoning at output rate)
    # Cache hit rate: 500k of 1.6M prompt tokens.
    assert "31.2%" in panel
    assert "Sub-agents" in panel and "2,000,000" in panel and "$3.68" in panel  # together
    turns = panel[panel.index('id="usage-turns"') :]
    assert turns.index("<td>2</td>") < turns.index("<td>1</td>")  # newest turn first


def test_an_unknown_price_is_said_not_invented(client, viewer, project):
    a = seed.agent(project, "mystery")
    record(a, "m", i=1000, model="homegrown-7b")
    client.force_login(viewer)
    body = client.get(reverse("agent-detail", args=[a.pk])).content.decode()
    panel = body[body.index('id="agent-usage"') : body.index('id="trace-h"')]
    assert "unknown price" in panel and "$0.00" not in panel
    row = client.get(reverse("agents-list")).content.decode()
    assert "unknown price" in row


def test_span_tokens_count_once_on_the_agent_page(client, viewer, project):
    a = seed.agent(project, "tracer", model="test-model")
    seed.traced_session(a)
    client.force_login(viewer)
    body = client.get(reverse("agent-detail", args=[a.pk])).content.decode()
    panel = body[body.index('id="agent-usage"') : body.index('id="trace-h"')]
    # The traced session's spans carry cache 41000 of prompt 47500: one row per span.
    assert "86.3%" in panel


def test_the_agent_page_without_usage_says_so(client, viewer, project):
    a = seed.agent(project, "quiet")
    client.force_login(viewer)
    body = client.get(reverse("agent-detail", args=[a.pk])).content.decode()
    assert "No token usage reported yet" in body
    live = client.get(reverse("agent-detail", args=[a.pk]) + "?partial=live").content.decode()
    assert 'id="agent-usage"' in live


def test_the_list_shows_tokens_and_cost_per_agent(client, viewer, project):
    a = seed.agent(project, "spender")
    seed.agent(project, "idle-one")
    record(a, "k", i=1_000_000, o=500_000)
    client.force_login(viewer)
    body = client.get(reverse("agents-list")).content.decode()
    row = body[body.index(f'id="agent-row-{a.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "1.50M" in row and "$2.00" in row


@pytest.mark.parametrize("n", [1, 20])
def test_the_lists_query_count_does_not_grow_with_usage(
    client, viewer, project, django_assert_num_queries, n
):
    for i, a in enumerate(seed.many(project, n)):
        record(a, f"k{i}", i=10, o=10)
        record(a, f"j{i}", i=10, model="homegrown")
    client.force_login(viewer)
    client.get(reverse("agents-list"))
    with django_assert_num_queries(QUERIES):
        r = client.get(reverse("agents-list"))
    assert r.status_code == 200 and r.content.decode().count("agent-row-") == n


QUERIES = 8  # session, user, project selector, count, page, latest event id, archive counts,
#             the model, label and owner filters' choices (one query)


def test_the_overview_shows_todays_cost_per_project(client, viewer, project, other_project):
    a = seed.agent(project, "a")
    b = seed.agent(other_project, "b")
    record(a, "today", i=1_000_000)
    record(a, "yesterday", i=5_000_000, ts=timezone.now() - timedelta(days=1, hours=1))
    record(b, "today", o=1_000_000)
    client.force_login(viewer)
    body = client.get(reverse("overview") + "?project=all").content.decode()
    panel = body[body.index('id="ov-usage"') :]
    panel = panel[: panel.index("</section>")]
    assert "since 00:00 UTC" in panel
    assert "Apollo" in panel and "Zephyr" in panel and "$1.00" in panel and "$2.00" in panel
    assert "$3.00" in panel  # all projects together; yesterday's 5M tokens are not counted
    assert panel.index("Zephyr") < panel.index("Apollo")  # costliest first
    body = client.get(reverse("overview") + "?project=apollo").content.decode()
    panel = body[body.index('id="ov-usage"') :]
    panel = panel[: panel.index("</section>")]
    assert "Apollo" in panel and "Zephyr" not in panel


def test_the_overview_without_usage_says_so(client, viewer, project):
    seed.agent(project, "a")
    client.force_login(viewer)
    body = client.get(reverse("overview")).content.decode()
    assert "No tokens reported today." in body
