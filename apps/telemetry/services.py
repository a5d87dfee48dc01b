"""Writes of the telemetry app: token usage records, the team's model prices and retention
windows.

Imports run one way: this module reads apps.agents.models, never apps.agents' services; the
agents app calls `usage_record` from its ingestion and span services."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.agents.models import Agent
from apps.core.audit import audit_record
from apps.core.db import greatest
from apps.telemetry import prices
from apps.telemetry.models import (
    RETENTION_KEYS,
    TOKEN_FIELDS,
    CostSource,
    ModelPrice,
    RetentionPolicy,
    TokenUsage,
)

MAX_TOKENS = 10**12  # per field and call; far above any context window, far below BIGINT
MAX_COST = Decimal("999999")  # cost_usd has 14 digits, 8 of them decimals
REQUEST_ID_PREFIX = "req_"  # Anthropic's API request ids (Claude Code's transcripts and OTLP)

_COLUMNS = (
    "project_id",
    "agent_id",
    "task_id",
    "key",
    "turn",
    "model",
    *TOKEN_FIELDS,
    "cost_usd",
    "cost_source",
    "cost_list_usd",
    "ts",
    "created_at",
    "updated_at",
)
_ADAPTED = {"cost_usd", "cost_list_usd", "ts", "created_at", "updated_at"}  # need the backend's own adaptation
_RETURNING = ("id", "turn", "model", "task_id", *TOKEN_FIELDS, "cost_usd", "cost_source")


def _upsert_sql() -> str:
    """INSERT … ON CONFLICT (agent, key) DO UPDATE taking the larger of each figure: one
    statement, atomic under concurrency on PostgreSQL (the conflicting row is locked until
    commit) and on SQLite (one writer at a time). Both accept ON CONFLICT … RETURNING; they
    differ only in the name of the two-argument maximum."""
    qn = connection.ops.quote_name
    table = qn(TokenUsage._meta.db_table)
    most = greatest(connection)

    def larger(column: str) -> str:
        return f"{qn(column)} = {most}({table}.{qn(column)}, excluded.{qn(column)})"

    updates = [
        larger("turn"),
        *(larger(f) for f in TOKEN_FIELDS),
        f"{qn('model')} = CASE WHEN excluded.{qn('model')} <> '' THEN excluded.{qn('model')} "
        f"ELSE {table}.{qn('model')} END",
        f"{qn('task_id')} = COALESCE({table}.{qn('task_id')}, excluded.{qn('task_id')})",
        f"{qn('cost_list_usd')} = COALESCE(excluded.{qn('cost_list_usd')}, "
        f"{table}.{qn('cost_list_usd')})",
        f"{qn('updated_at')} = excluded.{qn('updated_at')}",
    ]
    return (
        f"INSERT INTO {table} ({', '.join(qn(c) for c in _COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
        f"ON CONFLICT ({qn('agent_id')}, {qn('key')}) DO UPDATE SET {', '.join(updates)} "
        f"RETURNING {', '.join(qn(c) for c in _RETURNING)}"
    )


def _prep(field: str, value: Any) -> Any:
    return TokenUsage._meta.get_field(field).get_db_prep_save(value, connection)


def _clean_tokens(tokens: Mapping[str, int]) -> dict[str, int]:
    clean = {}
    for name in TOKEN_FIELDS:
        value = tokens.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TOKENS:
            raise ValidationError({name: [f"a non-negative integer up to {MAX_TOKENS}."]})
        clean[name] = value
    return clean


def list_cost(*, model: str, tokens: Mapping[str, int], cost: prices.Cost,
              ts: datetime) -> Decimal | None:
    """The price table's figure beside a client's own cost (both are kept); None otherwise."""
    if cost.source != CostSource.CLIENT:
        return None
    listed = prices.usage_cost(model=model, tokens=tokens, ts=ts)
    return listed.usd if listed.source == CostSource.PRICE_TABLE else None


def _cost(
    *, model: str, tokens: Mapping[str, int], client_cost: Decimal | None, ts: datetime
) -> prices.Cost:
    if client_cost is not None:
        return prices.Cost(client_cost.quantize(prices.CENT_FRACTION), CostSource.CLIENT)
    return prices.usage_cost(model=model, tokens=tokens, ts=ts)


@transaction.atomic
def usage_record(
    *,
    agent: Agent,
    key: str,
    tokens: Mapping[str, int],
    model: str = "",
    turn: int = 0,
    cost_usd: Decimal | None = None,
    task_id: int | None = None,
    ts: datetime | None = None,
) -> TokenUsage:
    """Store one model call's usage under its natural key, merging with an earlier report of
    the same key: each token figure becomes the larger of the two (a retry changes nothing, a
    streamed message reported again with bigger figures replaces the smaller ones). The cost is
    then priced from the merged figures; a client's own `cost_usd` is kept (the larger one) and
    wins over the price table. Returns the row as stored (no extra read)."""
    key = (key or "").strip()
    if not key or len(key) > 200:
        raise ValidationError({"key": ["a string of 1 to 200 characters."]})
    if not isinstance(turn, int) or isinstance(turn, bool) or not 0 <= turn < 2**31:
        raise ValidationError({"turn": ["a non-negative integer."]})
    if cost_usd is not None and not (cost_usd.is_finite() and 0 <= cost_usd <= MAX_COST):
        raise ValidationError({"cost_usd": [f"a number from 0 to {MAX_COST}."]})
    figures = _clean_tokens(tokens)
    model = (model or "").strip()[:150]
    now = timezone.now()
    if agent.parent_id and key.startswith(REQUEST_ID_PREFIX):
        _claim_from_parent(agent, key, now)
    ts = ts or now
    task_id = task_id if task_id is not None else agent.current_task_id
    cost = _cost(model=model, tokens=figures, client_cost=cost_usd, ts=ts)
    values = {
        "project_id": agent.project_id,
        "agent_id": agent.pk,
        "task_id": task_id,
        "key": key,
        "turn": turn,
        "model": model,
        **figures,
        "cost_usd": cost.usd,
        "cost_source": cost.source,
        "cost_list_usd": list_cost(model=model, tokens=figures, cost=cost, ts=ts),
        "ts": ts,
        "created_at": now,
        "updated_at": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            _upsert_sql(), [_prep(c, values[c]) if c in _ADAPTED else values[c] for c in _COLUMNS]
        )
        stored = dict(zip(_RETURNING, cursor.fetchone(), strict=True))
    stored["cost_usd"] = Decimal(str(stored["cost_usd"])).quantize(prices.CENT_FRACTION)
    merged = {f: stored[f] for f in TOKEN_FIELDS}
    final = _merged_cost(
        stored, merged, incoming=cost, figures=figures, model=model, ts=ts, client_cost=cost_usd
    )
    if (final.usd, final.source) != (stored["cost_usd"], stored["cost_source"]):
        TokenUsage.objects.filter(pk=stored["id"]).update(
            cost_usd=final.usd, cost_source=final.source
        )
    row = TokenUsage(
        pk=stored["id"],
        project_id=agent.project_id,
        agent=agent,
        task_id=stored["task_id"],
        key=key,
        turn=stored["turn"],
        model=stored["model"],
        **merged,
        cost_usd=final.usd,
        cost_source=final.source,
        ts=ts,
        updated_at=now,
    )
    row._state.adding = False
    return row


def _claim_from_parent(agent: Agent, key: str, now: datetime) -> None:
    """A sub-agent's call that OpenTelemetry reported first, on the session (Claude Code's
    telemetry does not tell sub-agents apart): the row moves to the sub-agent, where the hooks
    put it, so the call is counted once and on the right agent. Only for Anthropic request ids,
    unique the world over; other keys may repeat between agents (a client's own numbering)."""
    on_parent = TokenUsage.objects.filter(agent_id=agent.parent_id, key=key)
    if TokenUsage.objects.filter(agent=agent, key=key).exists():
        on_parent.delete()
    else:
        on_parent.update(agent_id=agent.pk, updated_at=now)


def _merged_cost(
    stored: dict[str, Any],
    merged: dict[str, int],
    *,
    incoming: prices.Cost,
    figures: dict[str, int],
    model: str,
    ts: datetime,
    client_cost: Decimal | None,
) -> prices.Cost:
    """The cost the merged row should carry. `stored` holds the row after the upsert, with the
    cost it had before (the upsert leaves cost alone on a conflict)."""
    kept_client = stored["cost_source"] == CostSource.CLIENT
    if client_cost is not None:
        earlier = stored["cost_usd"] if kept_client else Decimal(0)
        return prices.Cost(max(incoming.usd, earlier), CostSource.CLIENT)
    if kept_client:
        return prices.Cost(stored["cost_usd"], CostSource.CLIENT)
    if merged == figures and stored["model"] == model:
        return incoming
    return prices.usage_cost(model=stored["model"], tokens=merged, ts=ts)


# --- model prices ---------------------------------------------------------------------------
@transaction.atomic
def model_price_save(*, price: ModelPrice, actor: Any = None, request: Any = None) -> ModelPrice:
    """Create or change a team price (admin). Usage already stored keeps the cost it was given;
    new reports are priced with the new figures."""
    creating = price.pk is None
    price.full_clean()
    price.save()
    rates = {
        f: None if getattr(price, f) is None else str(getattr(price, f))
        for f in ("input", "output", "cache_read", "cache_write")
    }
    audit_record(
        "telemetry.price_created" if creating else "telemetry.price_changed",
        actor=actor,
        request=request,
        target=price,
        data=rates,
    )
    _forget_prices()
    return price


@transaction.atomic
def model_price_delete(*, price: ModelPrice, actor: Any = None, request: Any = None) -> None:
    audit_record("telemetry.price_deleted", actor=actor, request=request, target=price)
    price.delete()
    _forget_prices()


def _forget_prices() -> None:
    """Now, so the rest of this transaction prices with the change, and after commit, so a
    report priced in between from the old rows does not leave them cached."""
    prices.forget_overrides()
    transaction.on_commit(prices.forget_overrides)


# --- scheduled reports ----------------------------------------------------------------------
def report_for(*, period: Any, project: Any = None, now: datetime | None = None,
               content: dict[str, Any] | None = None) -> Any:
    """The report of one period and scope, shared by everyone who wants it: built the first
    time it is asked for, read back afterwards (two workers building it at once keep one)."""
    from django.db import IntegrityError

    from apps.telemetry.models import Report
    from apps.telemetry.reports import build_content

    key = {"cadence": period.cadence, "project": project, "period_start": period.start}
    existing = Report.objects.filter(**key).first()
    if existing is not None:
        return existing
    content = content or build_content(period=period, project=project, now=now)
    try:
        with transaction.atomic():
            return Report.objects.create(**key, period_end=period.end, title=content["title"],
                                         content=content)
    except IntegrityError:
        return Report.objects.get(**key)


def _email_address(user: Any) -> str:
    """Where a person's mail goes: the address on "My notifications", else the account's."""
    from apps.alerts.models import PersonalSettings

    prefs = PersonalSettings.objects.filter(user=user).first()
    return (prefs.email if prefs else "") or user.email


def _report_deliveries(*, report: Any, subscription: Any, user: Any, slack: bool) -> list[Any]:
    """Where one person's copy goes: their email (the address of "My notifications", else the
    account's), and the team's Slack channels that have not had this report yet. Call inside
    the transaction that claims the period: the report row is locked while Slack is decided."""
    from apps.alerts.models import SEVERITY_RANK, Delivery, Severity, TeamChannel
    from apps.telemetry.models import Report

    out = []
    channels = subscription.channels if subscription is not None else ["email"]
    if "email" in channels and (address := _email_address(user)):
        out.append(Delivery(channel="email", target=address, user=user))
    if slack and "slack" in channels:
        locked = Report.objects.select_for_update().get(pk=report.pk)
        posted = list(locked.slack_posted or [])
        for channel in TeamChannel.objects.filter(enabled=True, kind="slack"):
            # A digest is news, not an alarm: channels kept for warnings or worse skip it.
            if channel.pk in posted or SEVERITY_RANK[channel.min_severity] > SEVERITY_RANK[
                    Severity.INFO]:
                continue
            out.append(Delivery(channel="slack", target=channel.name, team_channel=channel,
                                user=user))
            posted.append(channel.pk)
        if posted != locked.slack_posted:
            Report.objects.filter(pk=report.pk).update(slack_posted=posted)
    return out


def _report_send(*, report: Any, deliveries: list[Any], title: str) -> Any:
    """One notification through the alerts' deliveries: their transports, retries, attempt log
    and the sweep that re-sends a delivery whose task was lost."""
    from apps.alerts import dispatch
    from apps.alerts.models import Notification, NotificationState, Severity

    if not deliveries:
        return None
    note = Notification.objects.create(
        subject=f"report:{report.pk}", state=NotificationState.SENT, severity=Severity.INFO,
        channels=sorted({d.channel for d in deliveries}), title=title[:300],
        project=report.project,
    )
    dispatch.fan_out(notification=note, deliveries=deliveries)
    return note


def reports_send_due(*, now: datetime | None = None) -> int:
    """Send every subscription its latest complete period, once. Run by beat every few
    minutes: a period is taken when the rollups have reached its end; a worker that was off
    sends the latest period when it is back, and only that one (the ones it missed are
    skipped). Each person's period is claimed by moving `last_period_end` with a conditional
    UPDATE in the transaction that queues their deliveries, so two workers never both send it.
    A period without any activity is skipped, not sent. Returns the people sent to."""
    from django.db.models import Q

    from apps.telemetry.models import Cadence, ReportSubscription
    from apps.telemetry.reports import build_content, is_empty, is_ready, latest_period

    now = now or timezone.now()
    sent = 0
    for cadence in Cadence.values:
        period = latest_period(cadence, now)
        if not is_ready(period, now):
            continue  # the rollups are still catching up with the period's end
        due = (ReportSubscription.objects.filter(cadence=cadence, user__is_active=True)
               .exclude(user__role="")
               .filter(Q(last_period_end__isnull=True) | Q(last_period_end__lt=period.end))
               .select_related("user", "project").order_by("pk"))
        built: dict[int | None, Any] = {}
        for sub in due:
            if sub.project_id not in built:
                content = build_content(period=period, project=sub.project, now=now)
                built[sub.project_id] = (None if is_empty(content) else
                                         report_for(period=period, project=sub.project,
                                                    content=content))
            report = built[sub.project_id]
            claim = ReportSubscription.objects.filter(pk=sub.pk, cadence=cadence,
                                                      project_id=sub.project_id)
            claim = (claim.filter(last_period_end__isnull=True) if sub.last_period_end is None
                     else claim.filter(last_period_end=sub.last_period_end))
            with transaction.atomic():
                if not claim.update(last_period_end=period.end):
                    continue  # another worker has it, or the person changed their digest
                if report is None:
                    continue
                deliveries = _report_deliveries(report=report, subscription=sub, user=sub.user,
                                                slack=True)
                if _report_send(report=report, deliveries=deliveries, title=report.title):
                    sent += 1
    return sent


def report_send_test(*, user: Any, now: datetime | None = None) -> Any:
    """"Send me a test digest now": the latest complete period of the person's digest (weekly
    for all projects while it is off) to their email only, so a test never posts to a team
    channel. Sent even when the period was quiet, and it moves no schedule."""
    from apps.telemetry.models import Cadence, ReportSubscription
    from apps.telemetry.reports import ready_period

    if not _email_address(user):
        raise ValidationError("Add an email address on My notifications first.")
    sub = ReportSubscription.objects.filter(user=user).select_related("project").first()
    cadence = sub.cadence if sub is not None and sub.cadence in Cadence.values else Cadence.WEEKLY
    project = sub.project if sub is not None else None
    report = report_for(period=ready_period(cadence, now), project=project, now=now)
    with transaction.atomic():
        deliveries = _report_deliveries(report=report, subscription=None, user=user, slack=False)
        _report_send(report=report, deliveries=deliveries, title=f"Test: {report.title}")
    return report


@transaction.atomic
def report_subscription_update(*, user: Any, cadence: str, project: Any, channels: list[str],
                               now: datetime | None = None) -> Any:
    """Save a person's digest. A new cadence or scope starts with the next period to complete
    (the latest complete one counts as seen), so saving never sends a stale digest at once."""
    from apps.telemetry.models import REPORT_CHANNELS, DigestCadence, ReportSubscription
    from apps.telemetry.reports import latest_period

    sub, _ = ReportSubscription.objects.get_or_create(user=user)
    changed = (sub.cadence, sub.project_id) != (cadence, project.pk if project else None)
    sub.cadence = cadence
    sub.project = project
    sub.channels = [c for c, _ in REPORT_CHANNELS if c in channels]
    if cadence == DigestCadence.OFF:
        sub.last_period_end = None
    elif changed or sub.last_period_end is None:
        sub.last_period_end = latest_period(cadence, now).end
    sub.full_clean()
    sub.save()
    return sub


# --- retention windows ----------------------------------------------------------------------
@transaction.atomic
def retention_policy_save(*, values: Mapping[str, int | None], actor: Any = None,
                          request: Any = None) -> RetentionPolicy:
    """Set the owner's retention windows (days; None: the server's setting; 0: forever). The
    next retention run, and the usage rollup's next run, read them."""
    unknown = set(values) - set(RETENTION_KEYS)
    if unknown:
        raise ValueError(f"unknown retention kinds: {sorted(unknown)}")
    RetentionPolicy.objects.get_or_create(pk=1)
    policy = RetentionPolicy.objects.select_for_update().get(pk=1)
    before = {key: getattr(policy, RetentionPolicy.field_name(key)) for key in values}
    for key, days in values.items():
        setattr(policy, RetentionPolicy.field_name(key), days)
    policy.full_clean()
    policy.save()
    audit_record(
        "retention.policy_saved",
        actor=actor,
        request=request,
        target=policy,
        data={
            "changed": {key: [before[key], days] for key, days in values.items()
                        if before[key] != days},
            "windows": RetentionPolicy.windows_of(policy),
        },
    )
    return policy
