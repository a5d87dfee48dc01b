"""Owners' admin: the team's model prices (saved through the services, so they are audited and
the price cache is forgotten) and the stored token usage, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.admin import OwnerAdmin, ReadOnlyOwnerAdmin
from apps.telemetry import services
from apps.telemetry.models import ModelPrice, TokenUsage


@admin.register(ModelPrice)
class ModelPriceAdmin(OwnerAdmin):
    list_display = ("model", "input", "output", "cache_read", "cache_write", "updated_at")
    search_fields = ("model",)
    fields = ("model", "input", "output", "cache_read", "cache_write")

    def save_model(self, request: HttpRequest, obj: ModelPrice, form: Any, change: bool) -> None:
        services.model_price_save(price=obj, actor=request.user, request=request)

    def delete_model(self, request: HttpRequest, obj: ModelPrice) -> None:
        services.model_price_delete(price=obj, actor=request.user, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelPrice]) -> None:
        for price in queryset:
            services.model_price_delete(price=price, actor=request.user, request=request)


@admin.register(TokenUsage)
class TokenUsageAdmin(ReadOnlyOwnerAdmin):
    list_display = (
        "ts",
        "agent",
        "key",
        "turn",
        "model",
        "tokens_input",
        "tokens_output",
        "tokens_cache_read",
        "tokens_cache_write",
        "tokens_reasoning",
        "cost_usd",
        "cost_source",
    )
    list_filter = ("cost_source", "project")
    search_fields = ("key", "model", "agent__name")
    list_select_related = ("agent",)
    date_hierarchy = "ts"
