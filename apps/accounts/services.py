from __future__ import annotations

from apps.accounts.models import User


def user_for_trusted_login(*, login_name: str) -> User | None:
    """The active team member whose GitHub login (or username) matches, else None."""
    return (
        User.objects.members()
        .filter(github_login__iexact=login_name)
        .first()
        or User.objects.members().filter(username__iexact=login_name).first()
    )


def claim_token_issue_if_needed() -> str | None:
    """When no user exists, issue a fresh one-time claim token and return it raw (shown once).

    Older unused tokens are dropped so only the link printed last works.
    """
    from django.db import transaction
    from django.utils import timezone

    from apps.accounts.models import ClaimToken, new_token

    if User.objects.exists():
        return None
    raw, digest = new_token()
    with transaction.atomic():
        ClaimToken.objects.filter(used_at__isnull=True).delete()
        ClaimToken.objects.create(token_hash=digest, expires_at=timezone.now() + ClaimToken.TTL)
    return raw
