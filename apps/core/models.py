from __future__ import annotations

from django.conf import settings
from django.db import models


class VersionedModel(models.Model):
    """A row the live pages show: `version` is bumped on every change (F("version") + 1)."""

    version = models.PositiveBigIntegerField(default=1)

    class Meta:
        abstract = True


class AuditEntry(models.Model):
    """Who did what to the team, projects and keys, when and from where. Append-only."""

    action = models.CharField(max_length=64, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class ServiceBeat(models.Model):
    """Last sign of life of a background service ("beat", "worker"), for the status page."""

    name = models.CharField(max_length=64, unique=True)
    last_seen_at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_seen_at:%H:%M:%S}"
