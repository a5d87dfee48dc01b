from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone

from apps.core.fields import EncryptedTextField
from apps.core.roles import Role


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(raw, sha256 hex). Only the hash is stored; the raw token is shown once."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_token(raw)


class SwitchboardUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):  # type: ignore[override]
        extra_fields.setdefault("role", Role.OWNER)
        return super().create_superuser(username, email, password, **extra_fields)

    def members(self) -> models.QuerySet[User]:
        return self.filter(is_active=True).exclude(role="")


class User(AbstractUser):
    """A person. `role` is the team role; empty means signed in but not on the team."""

    role = models.CharField(max_length=16, choices=Role.choices, blank=True, db_index=True)
    github_id = models.BigIntegerField(null=True, blank=True, unique=True)
    github_login = models.CharField(max_length=100, blank=True, db_index=True)
    display_name = models.CharField(max_length=150, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    preauthorized = models.BooleanField(
        default=False, help_text="Added by GitHub login before their first sign-in."
    )

    objects = SwitchboardUserManager()

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name or self.github_login or self.username

    @property
    def label(self) -> str:
        return self.github_login or self.username


class Invite(models.Model):
    """A single-use, expiring, revocable invite link carrying a role."""

    token_hash = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_role_display()} invite #{self.pk}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.used_at:
            return "used"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ClaimToken(models.Model):
    """The one-time link that claims the first owner account."""

    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    TTL = timedelta(hours=24)

    def __str__(self) -> str:
        return f"claim token #{self.pk}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class GithubSignIn(models.Model):
    """GitHub sign-in set up from Settings → Sign-in (a singleton row, pk=1). GITHUB_CLIENT_ID in
    the environment wins over it. The secret is stored Fernet-encrypted and never shown again;
    only its last characters are kept in clear, as a hint."""

    client_id = models.CharField(max_length=100, blank=True)
    client_secret = EncryptedTextField(blank=True)
    secret_hint = models.CharField(max_length=8, blank=True, help_text="Last characters only.")
    github_url = models.URLField(
        blank=True, help_text="A GitHub Enterprise server; empty for github.com."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "GitHub sign-in"

    def __str__(self) -> str:
        return "GitHub sign-in"

    @property
    def is_complete(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @classmethod
    def load(cls) -> GithubSignIn:
        """The stored row, or an unsaved empty one (reading never writes)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)
