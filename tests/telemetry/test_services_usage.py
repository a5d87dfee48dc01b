"""usage_record: one row per natural key, the larger figures win, cost priced once more."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.telemetry.models import CostSource, TokenUsage
from apps.telemetry.prices import table_cost
from apps.telemetry.services import usage_record

pytestmark = pytest.mark.django_db

SONNET = "claude-sonnet-4-5-20250929"


def tokens(i=0, o=0, cr=0, cw=0, r=0):
    return {
        "tokens_input": i,
        "tokens_output": o,
        "tokens_cache_read": cr,
        "tokens_cache_write": cw,
        "tokens_reasoning": r,
    }


def test_the_same_key_twice_counts_once(agent):
    usage_record(agent=agent, key="msg_01ABC", tokens=tokens(100, 20, 3000, 400), model=SONNET)
    usage_record(agent=agent, key="msg_01ABC", tokens=tokens(100, 20, 3000, 400), model=SONNET)
    rows = list(TokenUsage.objects.filter(agent=agent))
    assert len(rows) == 1
    row = rows[0]
    assert (row.tokens_input, row.tokens_output, row.tokens_cache_read, row.tokens_cache_write) == (
        100,
        20,
        3000,
        400,
    )
    assert row.cost_source == CostSource.PRICE_TABLE
    assert row.cost_usd == table_cost(SONNET, tokens(100, 20, 3000, 400)).quantize(
        Decimal("0.00000001")
    )


def test_bigger_figures_for_the_same_key_replace_the_smaller(agent):
    usage_record(agent=agent, key="msg_1", tokens=tokens(100, 5), model=SONNET, turn=2)
    first_cost = TokenUsage.objects.get().cost_usd
    # A streamed message reported again: more output; an older, smaller report arrives late.
    usage_record(agent=agent, key="msg_1", tokens=tokens(100, 900), model=SONNET, turn=2)
    usage_record(agent=agent, key="msg_1", tokens=tokens(90, 5), model="", turn=0)
    row = TokenUsage.objects.get()
    assert (row.tokens_input, row.tokens_output, row.turn, row.model) == (100, 900, 2, SONNET)
    assert row.cost_usd > first_cost
    assert row.cost_usd == table_cost(SONNET, tokens(100, 900)).quantize(Decimal("0.00000001"))


def test_it_returns_the_row_as_stored(agent):
    usage_record(agent=agent, key="k", tokens=tokens(10, 10), model=SONNET)
    row = usage_record(agent=agent, key="k", tokens=tokens(5, 50))
    stored = TokenUsage.objects.get()
    assert row.pk == stored.pk
    assert (row.tokens_input, row.tokens_output, row.cost_usd) == (
        stored.tokens_input,
        stored.tokens_output,
        stored.cost_usd,
    )


def test_different_keys_and_agents_are_counted_apart(agent, make_sub):
    sub = make_sub()
    usage_record(agent=agent, key="a", tokens=tokens(1))
    usage_record(agent=agent, key="b", tokens=tokens(2))
    usage_record(agent=sub, key="a", tokens=tokens(4))
    assert sorted(TokenUsage.objects.values_list("tokens_input", flat=True)) == [1, 2, 4]


def test_a_clients_own_cost_is_kept(agent):
    usage_record(
        agent=agent, key="oc-1", tokens=tokens(100, 10), model=SONNET, cost_usd=Decimal("0.0123")
    )
    row = TokenUsage.objects.get()
    assert (row.cost_usd, row.cost_source) == (Decimal("0.0123"), CostSource.CLIENT)
    # Reported again without a cost, or with a smaller one: the client's figure stays.
    usage_record(agent=agent, key="oc-1", tokens=tokens(200, 10), model=SONNET)
    usage_record(agent=agent, key="oc-1", tokens=tokens(200, 10), cost_usd=Decimal("0.01"))
    row.refresh_from_db()
    assert (row.cost_usd, row.cost_source, row.tokens_input) == (
        Decimal("0.0123"),
        CostSource.CLIENT,
        200,
    )
    usage_record(agent=agent, key="oc-1", tokens=tokens(200, 10), cost_usd=Decimal("0.05"))
    row.refresh_from_db()
    assert row.cost_usd == Decimal("0.05")


def test_an_unknown_model_costs_nothing_and_says_so(agent):
    usage_record(agent=agent, key="x", tokens=tokens(1000, 1000), model="homegrown-7b")
    row = TokenUsage.objects.get()
    assert (row.cost_usd, row.cost_source) == (Decimal(0), CostSource.UNKNOWN)


def test_a_model_named_later_prices_the_row(agent):
    usage_record(agent=agent, key="m", tokens=tokens(1000, 100))
    assert TokenUsage.objects.get().cost_source == CostSource.UNKNOWN
    usage_record(agent=agent, key="m", tokens=tokens(1000, 100), model=SONNET)
    row = TokenUsage.objects.get()
    assert row.cost_source == CostSource.PRICE_TABLE and row.cost_usd > 0


def test_it_takes_the_agents_current_task(agent, admin_user):
    from apps.agents.services import task_assign

    task = task_assign(agent=agent, title="Fix it", actor=admin_user)
    agent.refresh_from_db()
    row = usage_record(agent=agent, key="t", tokens=tokens(1))
    assert row.task_id == task.pk == TokenUsage.objects.get().task_id


@pytest.mark.parametrize(
    "bad",
    [
        {"key": ""},
        {"key": "x" * 201},
        {"turn": -1},
        {"cost_usd": Decimal("-1")},
        {"cost_usd": Decimal("NaN")},
        {"tokens": {"tokens_input": -5}},
        {"tokens": {"tokens_output": 10**13}},
        {"tokens": {"tokens_input": True}},
    ],
)
def test_it_refuses_bad_values(agent, bad):
    kwargs = {"key": "k", "tokens": tokens(1), **bad}
    with pytest.raises(ValidationError):
        usage_record(agent=agent, **kwargs)
    assert not TokenUsage.objects.exists()


def test_deleting_the_agent_deletes_its_usage(agent):
    from apps.agents.services import agent_delete

    usage_record(agent=agent, key="k", tokens=tokens(1))
    agent_delete(agent=agent)
    assert not TokenUsage.objects.exists()
