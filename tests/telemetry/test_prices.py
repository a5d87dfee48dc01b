"""Cost: the team's prices (admin rows, then the setting) over the bundled table."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from genai_prices import Usage, calc_price

from apps.telemetry.models import CostSource, ModelPrice
from apps.telemetry.prices import split_model, table_cost, usage_cost
from apps.telemetry.services import model_price_delete, model_price_save

pytestmark = pytest.mark.django_db

TOKENS = {
    "tokens_input": 1_000,
    "tokens_output": 2_000,
    "tokens_cache_read": 30_000,
    "tokens_cache_write": 4_000,
    "tokens_reasoning": 0,
}


def test_a_known_claude_model_costs_what_the_library_says():
    expected = calc_price(
        Usage(
            input_tokens=35_000,
            cache_read_tokens=30_000,
            cache_write_tokens=4_000,
            output_tokens=2_000,
        ),
        "claude-sonnet-4-5-20250929",
        provider_id="anthropic",
    ).total_price
    cost = usage_cost(model="claude-sonnet-4-5-20250929", tokens=TOKENS)
    assert cost.source == CostSource.PRICE_TABLE
    assert cost.usd == Decimal(expected).quantize(Decimal("0.00000001"))
    # $3 in, $15 out, $0.30 cache read, $3.75 cache write per million tokens.
    assert cost.usd == Decimal("0.0015") * 2 + Decimal("0.03") + Decimal("0.009") + Decimal("0.015")


def test_cache_reads_cost_less_and_cache_writes_more_than_input():
    model = "claude-sonnet-4-5"
    fresh = usage_cost(model=model, tokens={"tokens_input": 100_000}).usd
    read = usage_cost(model=model, tokens={"tokens_cache_read": 100_000}).usd
    write = usage_cost(model=model, tokens={"tokens_cache_write": 100_000}).usd
    assert read < fresh < write


def test_reasoning_tokens_cost_like_output():
    model = "o3"
    assert (
        usage_cost(model=model, tokens={"tokens_reasoning": 1000}).usd
        == usage_cost(model=model, tokens={"tokens_output": 1000}).usd
        > 0
    )


@pytest.mark.parametrize(
    "model, provider, name",
    [
        ("claude-opus-4-1", "anthropic", "claude-opus-4-1"),
        ("gpt-4o", "openai", "gpt-4o"),
        ("o3-mini", "openai", "o3-mini"),
        ("gemini-2.5-pro", "google", "gemini-2.5-pro"),
        ("anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        (" Qwen3-Coder ", None, "qwen3-coder"),
    ],
)
def test_it_guesses_the_provider_from_the_name(model, provider, name):
    assert split_model(model) == (provider, name)


def test_openai_and_google_models_are_priced():
    for model in ("gpt-4o", "gemini-2.5-pro", "anthropic/claude-sonnet-4-5"):
        assert table_cost(model, TOKENS) > 0, model


def test_an_unknown_model_is_unknown_not_free():
    cost = usage_cost(model="my-llama", tokens=TOKENS)
    assert (cost.usd, cost.source) == (Decimal(0), CostSource.UNKNOWN)
    assert usage_cost(model="", tokens=TOKENS).source == CostSource.UNKNOWN


def test_the_setting_prices_a_model(settings):
    settings.SWITCHBOARD_MODEL_PRICES = {
        "my-llama": {"input": 0.5, "output": 1.5, "cache_read": 0.05, "cache_write": 0.6}
    }
    cost = usage_cost(model="My-Llama", tokens=TOKENS)
    # (1000 × 0.5 + 2000 × 1.5 + 30000 × 0.05 + 4000 × 0.6) / 1M
    assert (cost.usd, cost.source) == (Decimal("0.0074"), CostSource.PRICE_TABLE)


def test_cache_prices_default_to_the_input_price(settings):
    settings.SWITCHBOARD_MODEL_PRICES = {"my-llama": {"input": 1, "output": 2}}
    assert usage_cost(model="my-llama", tokens=TOKENS).usd == Decimal("0.039")


def test_the_setting_wins_over_the_library(settings):
    settings.SWITCHBOARD_MODEL_PRICES = {"claude-sonnet-4-5": {"input": 0, "output": 1}}
    assert usage_cost(model="claude-sonnet-4-5", tokens=TOKENS).usd == Decimal("0.002")


def test_an_admin_price_wins_over_the_setting_and_the_library(settings, owner):
    settings.SWITCHBOARD_MODEL_PRICES = {"claude-sonnet-4-5": {"input": 0, "output": 1}}
    price = model_price_save(
        price=ModelPrice(model=" Claude-Sonnet-4-5 ", input=Decimal(0), output=Decimal(10)),
        actor=owner,
    )
    assert price.model == "claude-sonnet-4-5"
    assert usage_cost(model="claude-sonnet-4-5", tokens=TOKENS).usd == Decimal("0.02")
    price.output = Decimal(100)
    model_price_save(price=price, actor=owner)
    assert usage_cost(model="claude-sonnet-4-5", tokens=TOKENS).usd == Decimal("0.2")
    model_price_delete(price=price, actor=owner)
    assert usage_cost(model="claude-sonnet-4-5", tokens=TOKENS).usd == Decimal("0.002")


def test_price_changes_are_audited(owner):
    from apps.core.models import AuditEntry

    price = model_price_save(price=ModelPrice(model="my-llama", input=1, output=2), actor=owner)
    model_price_delete(price=price, actor=owner)
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "telemetry.price_created",
        "telemetry.price_deleted",
    ]


def test_a_usage_record_uses_the_team_price(settings, agent):
    from apps.telemetry.services import usage_record

    settings.SWITCHBOARD_MODEL_PRICES = {"my-llama": {"input": 1, "output": 2}}
    row = usage_record(agent=agent, key="k", tokens=TOKENS, model="my-llama")
    assert (row.cost_usd, row.cost_source) == (Decimal("0.039"), CostSource.PRICE_TABLE)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1]",
        '{"m": {"input": 1}}',
        '{"m": {"input": 1, "output": -1}}',
        '{"m": {"input": 1, "output": 2, "extra": 3}}',
        '{"m": {"input": true, "output": 2}}',
    ],
)
def test_a_bad_setting_stops_start_up(monkeypatch, raw):
    from config.env import env_model_prices

    monkeypatch.setenv("SWITCHBOARD_MODEL_PRICES", raw)
    with pytest.raises(ImproperlyConfigured):
        env_model_prices("SWITCHBOARD_MODEL_PRICES")


def test_a_good_setting_is_read(monkeypatch):
    from config.env import env_model_prices

    monkeypatch.setenv("SWITCHBOARD_MODEL_PRICES", '{"My-Llama": {"input": 0.5, "output": 1.5}}')
    assert env_model_prices("SWITCHBOARD_MODEL_PRICES") == {
        "my-llama": {"input": 0.5, "output": 1.5}
    }
