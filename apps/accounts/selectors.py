"""Reads for the team and audit pages; each is a fixed number of queries whatever the rows."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import Invite, User
from apps.core.models import AuditEntry
from apps.core.roles import RANK


def team_members() -> list[User]:
    """Active members who have signed in at least once (or hold a password), owners first."""
    members = list(User.objects.members().filter(preauthorized=False))
    members.sort(key=lambda u: (-RANK.get(u.role, 0), (u.github_login or u.username).lower()))
    return members


def preauthorized_logins() -> QuerySet[User]:
    return User.objects.members().filter(preauthorized=True).order_by("github_login")


def pending_invites() -> QuerySet[Invite]:
    return (
        Invite.objects.filter(
            used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .select_related("created_by")
        .order_by("-created_at")
    )


def owner_count() -> int:
    return User.objects.members().filter(role="owner", preauthorized=False).count()


def audit_entries(*, action: str = "") -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.select_related("actor").order_by("-created_at", "-id")
    if action:
        qs = qs.filter(action=action)
    return qs


def audit_actions() -> list[str]:
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())
