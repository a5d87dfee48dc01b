"""Typed readers for environment variables; a bad value stops start-up with a clear message."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


MAX_RETENTION_DAYS = 36_500  # a hundred years; beyond it "forever" (0) says it better


def env_days(name: str, default: int) -> int:
    """A retention window in whole days: unset is `default`; 0 or empty keeps rows forever."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip() == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a whole number of days (0 or empty: keep forever)."
        ) from None
    if not 0 <= value <= MAX_RETENTION_DAYS:
        raise ImproperlyConfigured(
            f"{name}={raw!r} must be between 0 (keep forever) and {MAX_RETENTION_DAYS} days."
        )
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


PRICE_FIELDS = ("input", "output", "cache_read", "cache_write")


def env_model_prices(name: str) -> dict[str, dict[str, float]]:
    """A JSON object of model name → {input, output, cache_read?, cache_write?} in USD per
    million tokens, e.g. {"my-llama": {"input": 0.5, "output": 1.5}}. Names are compared in
    lower case."""
    import json

    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    example = '{"my-llama": {"input": 0.5, "output": 1.5, "cache_read": 0.05}}'
    try:
        value = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} is not valid JSON; e.g. {example}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object; e.g. {example}")
    prices: dict[str, dict[str, float]] = {}
    for model, rates in value.items():
        if not isinstance(rates, dict) or "input" not in rates or "output" not in rates:
            raise ImproperlyConfigured(f"{name}: {model!r} needs at least input and output prices.")
        unknown = set(rates) - set(PRICE_FIELDS)
        if unknown:
            raise ImproperlyConfigured(
                f"{name}: {model!r} has unknown keys {sorted(unknown)}; use {list(PRICE_FIELDS)}."
            )
        for key, rate in rates.items():
            if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
                raise ImproperlyConfigured(
                    f"{name}: {model!r} {key} must be a non-negative number (USD per 1M tokens)."
                )
        prices[str(model).strip().lower()] = {k: float(v) for k, v in rates.items()}
    return prices
