"""What token usage costs, in USD.

Prices come from, in this order: a ModelPrice row (set in the admin), the
SWITCHBOARD_MODEL_PRICES setting, then the price table bundled with genai-prices (read offline;
no price is ever fetched). A model none of them knows costs nothing and is marked unknown, so
pages say "unknown price" instead of showing a made-up figure.

Token fields follow the usage contract: `tokens_input` is the fresh prompt only, cache reads and
writes are separate (and priced separately: Anthropic cache writes cost more than input, reads
much less), and `tokens_reasoning` is separate from `tokens_output` and priced like it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from apps.telemetry.models import CostSource, ModelPrice, normalize_model

CACHE_KEY = "telemetry:model-prices"
CACHE_SECONDS = 300
PER_MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.00000001")  # TokenUsage.cost_usd keeps 8 decimal places

# Which provider's table to look in first; the library may still match any provider after.
PROVIDER_PREFIXES = (
    (re.compile(r"^claude-"), "anthropic"),
    (re.compile(r"^(gpt-|chatgpt-|o\d)"), "openai"),
    (re.compile(r"^gemini-"), "google"),
)


@dataclass(frozen=True)
class Rates:
    """USD per million tokens; cache rates default to the input rate."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Rates:
        def dec(key: str) -> Decimal | None:
            value = values.get(key)
            return None if value is None else Decimal(str(value))

        return cls(
            input=dec("input") or Decimal(0),
            output=dec("output") or Decimal(0),
            cache_read=dec("cache_read"),
            cache_write=dec("cache_write"),
        )

    def cost(self, tokens: Mapping[str, int]) -> Decimal:
        read = self.input if self.cache_read is None else self.cache_read
        write = self.input if self.cache_write is None else self.cache_write
        total = (
            tokens.get("tokens_input", 0) * self.input
            + tokens.get("tokens_cache_read", 0) * read
            + tokens.get("tokens_cache_write", 0) * write
            + (tokens.get("tokens_output", 0) + tokens.get("tokens_reasoning", 0)) * self.output
        )
        return total / PER_MILLION


@dataclass(frozen=True)
class Cost:
    usd: Decimal
    source: str  # a CostSource value


UNKNOWN = Cost(Decimal(0), CostSource.UNKNOWN)


def _admin_prices() -> dict[str, dict[str, object]]:
    return {
        row["model"]: row
        for row in ModelPrice.objects.values(
            "model", "input", "output", "cache_read", "cache_write"
        )
    }


def overrides() -> dict[str, Rates]:
    """The team's prices by normalized model name: admin rows over the setting. The rows are
    cached for a few minutes; the services that change them forget the cache at once."""
    rows = cache.get(CACHE_KEY)
    if rows is None:
        rows = _admin_prices()
        cache.set(CACHE_KEY, rows, CACHE_SECONDS)
    merged = {name: Rates.from_mapping(v) for name, v in settings.SWITCHBOARD_MODEL_PRICES.items()}
    merged.update({name: Rates.from_mapping(v) for name, v in rows.items()})
    return merged


def forget_overrides() -> None:
    cache.delete(CACHE_KEY)


def split_model(model: str) -> tuple[str | None, str]:
    """(provider to try first, model name): "anthropic/claude-x" names its provider; otherwise
    it is guessed from the name (claude-* → anthropic, gpt-* and o1/o3/... → openai, gemini-* →
    google), or None to let the price table match any provider."""
    name = normalize_model(model)
    if "/" in name:
        provider, _, bare = name.rpartition("/")
        return provider.rsplit("/", 1)[-1] or None, bare
    for pattern, provider in PROVIDER_PREFIXES:
        if pattern.match(name):
            return provider, name
    return None, name


def table_cost(model: str, tokens: Mapping[str, int], ts: datetime | None = None) -> Decimal | None:
    """The bundled price table's cost, or None when it does not know the model."""
    from genai_prices import Usage, calc_price

    provider, name = split_model(model)
    if not name:
        return None
    fresh = tokens.get("tokens_input", 0)
    read = tokens.get("tokens_cache_read", 0)
    write = tokens.get("tokens_cache_write", 0)
    # The library's input_tokens is the whole prompt, cache reads and writes included.
    usage = Usage(
        input_tokens=fresh + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=tokens.get("tokens_output", 0) + tokens.get("tokens_reasoning", 0),
    )
    for provider_id in dict.fromkeys((provider, None)):
        try:
            result = calc_price(usage, name, provider_id=provider_id, genai_request_timestamp=ts)
        except (LookupError, ValueError):
            continue
        return Decimal(result.total_price)
    return None


def usage_cost(*, model: str, tokens: Mapping[str, int], ts: datetime | None = None) -> Cost:
    """The cost of one model call: the team's price, else the table's, else unknown."""
    _, name = split_model(model)
    team = overrides()
    rates = team.get(normalize_model(model)) or team.get(name)
    if rates is not None:
        return Cost(rates.cost(tokens).quantize(CENT_FRACTION), CostSource.PRICE_TABLE)
    usd = table_cost(model, tokens, ts)
    if usd is None:
        return UNKNOWN
    return Cost(usd.quantize(CENT_FRACTION), CostSource.PRICE_TABLE)
