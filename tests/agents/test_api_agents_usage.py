"""The agent API's `usage` object: token and cost totals in list and detail replies."""

from __future__ import annotations

import pytest

from apps.telemetry.services import usage_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _prices(settings):
    from apps.telemetry.prices import forget_overrides

    forget_overrides()
    settings.SWITCHBOARD_MODEL_PRICES = {"test-model": {"input": 1, "output": 2}}


def record(agent, key, **tokens):
    usage_record(
        agent=agent,
        key=key,
        model="test-model",
        tokens={f"tokens_{k}": v for k, v in tokens.items()},
    )


def test_detail_and_list_carry_usage(read_api, agent):
    record(agent, "a", input=1_000_000, cache_read=1_000_000, output=250_000)
    record(agent, "a", input=1_000_000, cache_read=1_000_000, output=250_000)
    record(agent, "b", reasoning=250_000)
    expected = {
        "tokens_input": 1_000_000,
        "tokens_output": 250_000,
        "tokens_cache_read": 1_000_000,
        "tokens_cache_write": 0,
        "tokens_reasoning": 250_000,
        "cache_hit_rate": 50.0,
        "cost_usd": "3.00000000",
        "calls": 2,
        "calls_unknown_price": 0,
    }
    # 1M input + 1M cache read (at the input price) at $1, 500k output + reasoning at $2.
    assert read_api.get(f"/api/v1/agents/{agent.pk}").json()["usage"] == expected
    listed = read_api.get("/api/v1/agents").json()["results"]
    assert [a["usage"] for a in listed] == [expected]


def test_an_agent_without_usage_has_zeros(read_api, agent):
    usage = read_api.get(f"/api/v1/agents/{agent.pk}").json()["usage"]
    assert (usage["calls"], usage["cost_usd"], usage["tokens_input"]) == (0, "0.00000000", 0)
    assert usage["cache_hit_rate"] is None


@pytest.mark.parametrize("n", [1, 20])
def test_the_list_query_count_does_not_grow(read_api, make_agent, django_assert_num_queries, n):
    for i in range(n):
        a = make_agent(f"a{i}", external_id=f"s{i}")
        record(a, "k", input=5)
    read_api.get("/api/v1/agents")
    with django_assert_num_queries(1):  # one page of agents (the key is cached)
        r = read_api.get("/api/v1/agents")
    assert len(r.json()["results"]) == n
