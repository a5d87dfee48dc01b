"""`usage` events of POST /events: the agent.usage event plus one TokenUsage row per key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.agents.models import AgentEvent
from apps.telemetry.models import CostSource, TokenUsage

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"
SONNET = "claude-sonnet-4-5-20250929"


def post(api, events):
    return api.post(URL, {"events": events}, format="json")


def usage(agent, idem=None, **data):
    event = {"type": "usage", "agent": agent.pk, "data": data}
    if idem:
        event["idempotency_key"] = idem
    return event


def test_a_keyed_message_reported_three_times_counts_once(api, agent):
    first = {
        "key": "msg_01ABC",
        "turn": 3,
        "model": SONNET,
        "tokens_input": 12,
        "tokens_output": 40,
        "tokens_cache_read": 9000,
        "tokens_cache_write": 300,
    }
    r = post(api, [usage(agent, "i1", **first)])
    assert r.json()["results"][0]["status"] == "created"
    post(api, [usage(agent, "i2", **{**first, "tokens_output": 400})])  # streamed further
    post(api, [usage(agent, "i3", **first)])  # a stale retry with a new idempotency key
    row = TokenUsage.objects.get(agent=agent)
    assert (row.key, row.turn, row.model, row.tokens_output, row.tokens_cache_read) == (
        "msg_01ABC",
        3,
        SONNET,
        400,
        9000,
    )
    assert row.cost_source == CostSource.PRICE_TABLE and row.cost_usd > 0
    events = AgentEvent.objects.filter(agent=agent, kind="agent.usage")
    assert events.count() == 3  # the feed and alerts still see every report
    assert events.first().data["key"] == "msg_01ABC"


def test_the_old_shape_stores_each_report_once(api, agent):
    """Old clients send the tokens added since their last report, without a key."""
    old = {"tokens_input": 10, "tokens_output": 5, "tokens_cache_read": 100}
    post(api, [usage(agent, "cc-1", **old), usage(agent, "cc-2", **old), usage(agent, **old)])
    post(api, [usage(agent, "cc-1", **old)])  # a replay: a duplicate event, no new row
    keys = set(TokenUsage.objects.values_list("key", flat=True))
    bare = AgentEvent.objects.get(kind="agent.usage", idempotency_key__isnull=True)
    assert keys == {"event:cc-1", "event:cc-2", f"event:{bare.pk}"}
    assert sum(TokenUsage.objects.values_list("tokens_input", flat=True)) == 30


def test_a_clients_cost_is_kept(api, agent):
    post(
        api,
        [
            usage(
                agent,
                key="oc-msg-1",
                model="big-pickle",
                tokens_input=5,
                tokens_output=7,
                cost_usd=0.0042,
            )
        ],
    )
    row = TokenUsage.objects.get()
    assert (row.cost_usd, row.cost_source) == (Decimal("0.0042"), CostSource.CLIENT)


def test_an_unknown_model_is_stored_as_unknown(api, agent):
    post(api, [usage(agent, key="m1", model="homegrown", tokens_input=5)])
    assert TokenUsage.objects.get().cost_source == CostSource.UNKNOWN


@pytest.mark.parametrize(
    "data, field",
    [
        ({"tokens_input": -1}, "data.tokens_input"),
        ({"tokens_output": "12"}, "data.tokens_output"),
        ({"tokens_output": 10**13}, "data.tokens_output"),
        ({"key": ""}, "data.key"),
        ({"key": 5}, "data.key"),
        ({"turn": -2}, "data.turn"),
        ({"turn": True}, "data.turn"),
        ({"cost_usd": -0.5}, "data.cost_usd"),
        ({"cost_usd": "cheap"}, "data.cost_usd"),
        ({"cost_usd": 10**9}, "data.cost_usd"),
    ],
)
def test_bad_figures_are_per_event_errors(api, agent, data, field):
    r = post(api, [usage(agent, **data), {"type": "hook.stop", "agent": agent.pk}])
    assert r.status_code == 200
    bad, good = r.json()["results"]
    assert bad["status"] == "error" and bad["error"].startswith(field), bad
    assert good["status"] == "created"
    assert not TokenUsage.objects.exists()
    assert not AgentEvent.objects.filter(kind="agent.usage").exists()


def test_span_tokens_and_a_usage_event_with_the_spans_key_merge(api, agent):
    """The simulator and API span clients send both; totals must not double."""
    span = {
        "span_id": "toolu_1",
        "turn": 2,
        "tool_name": "Bash",
        "tokens_input": 100,
        "tokens_output": 50,
    }
    post(
        api,
        [
            {"type": "span.finish", "agent": agent.pk, "data": span},
            usage(agent, key="span:toolu_1", turn=2, tokens_input=100, tokens_output=50),
        ],
    )
    row = TokenUsage.objects.get()
    assert (row.key, row.turn, row.tokens_input, row.tokens_output) == ("span:toolu_1", 2, 100, 50)


def test_a_span_without_tokens_records_no_usage(api, agent):
    api.post("/api/v1/spans", {"agent": agent.pk, "span_id": "s", "phase": "finish"}, format="json")
    assert not TokenUsage.objects.exists()
