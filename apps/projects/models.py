from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from apps.core.models import VersionedModel

KEY_PREFIX = "sbk_"


class ProjectQuerySet(models.QuerySet["Project"]):
    def active(self) -> ProjectQuerySet:
        return self.filter(archived=False)


class Project(VersionedModel):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A project-scoped machine credential: `sbk_` + secret, stored as SHA-256."""

    is_api_key = True  # lets permission code tell a key from a session without imports

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField("label", max_length=100)
    prefix = models.CharField(max_length=16, help_text="The visible start of the key.")
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices, default=ApiKeyScope.WRITE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """(raw key, visible prefix, sha256)."""
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        return raw, raw[: len(KEY_PREFIX) + 6], hash_key(raw)

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.WRITE

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
