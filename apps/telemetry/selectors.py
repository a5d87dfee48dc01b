"""Reads of token usage for the pages and the API: totals, per turn, per project today, and
subquery annotations that put an agent's totals on each row of an agent queryset (one query
for a whole page, whatever its length).

Totals come from TokenUsage alone: usage events write it under their natural key and finished
spans with tokens under `span:<span_id>`, so nothing is counted from two places."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import (
    BigIntegerField,
    Count,
    DecimalField,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.projects.models import Project
from apps.telemetry.models import TOKEN_FIELDS, CostSource, TokenUsage

TURN_LIMIT = 30
COST = DecimalField(max_digits=20, decimal_places=8)


def fmt_tokens(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def fmt_usd(value: Decimal) -> str:
    if value == 0:
        return "$0.00"
    if value < Decimal("0.01"):
        return f"${value:.4f}"
    if value < 1000:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


@dataclass
class Usage:
    """Token and cost totals of some usage rows, with what the pages print."""

    tokens_input: int = 0
    tokens_output: int = 0
    tokens_cache_read: int = 0
    tokens_cache_write: int = 0
    tokens_reasoning: int = 0
    cost_usd: Decimal = Decimal(0)
    calls: int = 0
    unknown: int = 0  # calls whose model has no known price (counted at 0)

    @classmethod
    def from_row(cls, row: dict[str, Any], prefix: str = "") -> Usage:
        return cls(
            **{f: int(row.get(prefix + f) or 0) for f in TOKEN_FIELDS},
            cost_usd=Decimal(row.get(prefix + "cost_usd") or 0),
            calls=int(row.get(prefix + "calls") or 0),
            unknown=int(row.get(prefix + "unknown") or 0),
        )

    @property
    def prompt(self) -> int:
        return self.tokens_input + self.tokens_cache_read + self.tokens_cache_write

    @property
    def total(self) -> int:
        return self.prompt + self.tokens_output + self.tokens_reasoning

    @property
    def cache_pct(self) -> float | None:
        """Cache reads as a share of all prompt tokens (fresh + cache read + cache write)."""
        return round(100.0 * self.tokens_cache_read / self.prompt, 1) if self.prompt else None

    @property
    def cost_label(self) -> str:
        """ "—" with nothing recorded, "unknown price" when no call could be priced, else the
        sum of what could be priced (the page says separately when some calls could not)."""
        if not self.calls:
            return "—"
        if self.unknown == self.calls and not self.cost_usd:
            return "unknown price"
        return fmt_usd(self.cost_usd)

    @property
    def partly_unknown(self) -> bool:
        return 0 < self.unknown < self.calls or bool(self.unknown and self.cost_usd)

    def label(self, field: str) -> str:
        return fmt_tokens(getattr(self, field))

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            **{
                f: getattr(self, f) + getattr(other, f)
                for f in (*TOKEN_FIELDS, "cost_usd", "calls", "unknown")
            }
        )

    def as_json(self) -> dict[str, Any]:
        return {
            **{f: getattr(self, f) for f in TOKEN_FIELDS},
            "cache_hit_rate": self.cache_pct,
            "cost_usd": f"{self.cost_usd:.8f}",
            "calls": self.calls,
            "calls_unknown_price": self.unknown,
        }


def _sums() -> dict[str, Any]:
    return {
        **{f: Sum(f) for f in TOKEN_FIELDS},
        "cost_usd": Sum("cost_usd"),
        "calls": Count("id"),
        "unknown": Count("id", filter=Q(cost_source=CostSource.UNKNOWN)),
    }


def usage_totals(*, agent_ids: Iterable[int]) -> Usage:
    ids = list(agent_ids)
    if not ids:
        return Usage()
    return Usage.from_row(TokenUsage.objects.filter(agent_id__in=ids).aggregate(**_sums()))


def usage_by_turn(*, agent_id: int, limit: int = TURN_LIMIT) -> list[tuple[int, Usage]]:
    """The newest `limit` turns of one agent, newest first."""
    rows = (
        TokenUsage.objects.filter(agent_id=agent_id)
        .order_by()
        .values("turn")
        .annotate(**_sums())
        .order_by("-turn")[:limit]
    )
    return [(row["turn"], Usage.from_row(row)) for row in rows]


def start_of_today(now: datetime | None = None) -> datetime:
    """Midnight in the current time zone (settings.TIME_ZONE; there are no per-user zones)."""
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def usage_today(project: Project | None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Today's usage per project (one project, or every active one), costliest first."""
    qs = TokenUsage.objects.filter(ts__gte=start_of_today(now))
    qs = qs.filter(project=project) if project is not None else qs.filter(project__archived=False)
    rows = (
        qs.order_by()
        .values("project_id", "project__name", "project__slug")
        .annotate(**_sums())
        .order_by("-cost_usd", "project__name")
    )
    return [
        {
            "project_id": r["project_id"],
            "name": r["project__name"],
            "slug": r["project__slug"],
            "usage": Usage.from_row(r),
        }
        for r in rows
    ]


def usage_annotations(*, full: bool = False) -> dict[str, Expression]:
    """Subqueries for an Agent queryset: `usage_tokens` (all tokens), `usage_cost_usd`,
    `usage_calls`, `usage_unknown`, and with `full` each token field as `usage_<field>`.
    Read them back with `agent_usage(agent)`."""
    rows = TokenUsage.objects.filter(agent=OuterRef("pk")).order_by().values("agent")

    def sub(aggregate: Any, field: Any) -> Expression:
        zero = Value(Decimal(0)) if isinstance(field, DecimalField) else Value(0)
        return Coalesce(
            Subquery(rows.annotate(v=aggregate).values("v"), output_field=field),
            zero,
            output_field=field,
        )

    total = sum((F(f) for f in TOKEN_FIELDS[1:]), start=F(TOKEN_FIELDS[0]))
    fields: dict[str, Expression] = {
        "usage_tokens": sub(Sum(total), BigIntegerField()),
        "usage_cost_usd": sub(Sum("cost_usd"), COST),
        "usage_calls": sub(Count("id"), IntegerField()),
        "usage_unknown": sub(Count("id", filter=Q(cost_source=CostSource.UNKNOWN)), IntegerField()),
    }
    if full:
        fields.update({f"usage_{f}": sub(Sum(f), BigIntegerField()) for f in TOKEN_FIELDS})
    return fields


def agent_usage(agent: Any) -> Usage | None:
    """The totals `usage_annotations(full=True)` put on an agent, or None without them."""
    if not hasattr(agent, "usage_calls"):
        return None
    return Usage.from_row(vars(agent), prefix="usage_")
