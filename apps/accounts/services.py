"""Writes for people and access: claim, invites, direct add, GitHub admission, roles, removal.

Every rule about who may do what is decided by apps.core.roles; these functions enforce the
team invariants (at least one owner, nobody grants above their own role) inside one
transaction, and record each change in the audit log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.github import (
    CheckResult,
    check_credentials,
    env_in_effect,
    github_config,
    github_endpoints,
    github_login_enabled,
)
from apps.accounts.models import ClaimToken, GithubSignIn, Invite, User, hash_token, new_token
from apps.core import roles
from apps.core.audit import audit_record
from apps.core.roles import Role


class AccessError(Exception):
    """A refused team change; the message is safe to show to the person who asked."""


class SignInRefused(Exception):
    """A GitHub identity that is neither invited, pre-authorised nor a returning member."""


# --- trusted proxy -------------------------------------------------------------------------
def user_for_trusted_login(*, login_name: str) -> User | None:
    """The active team member whose GitHub login (or username) matches, else None."""
    if not login_name:
        return None
    return (
        User.objects.members().filter(github_login__iexact=login_name).first()
        or User.objects.members().filter(username__iexact=login_name).first()
    )


# --- claim ---------------------------------------------------------------------------------
def claim_token_issue_if_needed() -> str | None:
    """When no user exists, issue a fresh one-time claim token and return it raw (shown once).

    Older unused tokens are dropped so only the link printed last works.
    """
    if User.objects.exists():
        return None
    raw, digest = new_token()
    with transaction.atomic():
        ClaimToken.objects.filter(used_at__isnull=True).delete()
        ClaimToken.objects.create(token_hash=digest, expires_at=timezone.now() + ClaimToken.TTL)
    return raw


def claim_token_is_usable(*, raw_token: str) -> bool:
    if User.objects.exists():
        return False
    token = ClaimToken.objects.filter(token_hash=hash_token(raw_token)).first()
    return token is not None and token.is_usable


@transaction.atomic
def claim_complete(
    *, raw_token: str, username: str, password: str, request: HttpRequest | None = None
) -> User:
    """Spend the claim token and create the first owner. Refused once any user exists."""
    now = timezone.now()
    # The conditional update is the single-use guarantee: of two racing claims one wins.
    spent = ClaimToken.objects.filter(
        token_hash=hash_token(raw_token), used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if spent != 1 or User.objects.exists():
        raise AccessError("This claim link is invalid or has expired.")
    user = User.objects.create_superuser(username=username, email="", password=password)
    ClaimToken.objects.filter(used_at__isnull=True).delete()
    audit_record("auth.claim", actor=user, request=request, target=user)
    return user


# --- invites -------------------------------------------------------------------------------
def invite_ttl_days_default() -> int:
    return settings.INVITE_TTL_DAYS


@transaction.atomic
def invite_create(
    *,
    actor: User,
    role: str,
    note: str = "",
    ttl_days: int | None = None,
    request: HttpRequest | None = None,
) -> tuple[Invite, str]:
    """A new invite and its raw token, which is shown once and never stored."""
    if role not in Role.values or not roles.can_grant(actor, role):
        raise AccessError("You can't invite people with that role.")
    days = ttl_days or invite_ttl_days_default()
    if not 1 <= days <= 90:
        raise AccessError("An invite lasts between 1 and 90 days.")
    raw, digest = new_token()
    invite = Invite.objects.create(
        token_hash=digest,
        role=role,
        note=note[:200],
        created_by=actor,
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(
        "invite.created",
        actor=actor,
        request=request,
        target=invite,
        data={"role": role, "days": days, "note": invite.note},
    )
    return invite, raw


def invite_find_usable(*, raw_token: str) -> Invite | None:
    """The invite behind a raw token if it can still be accepted, else None (any reason)."""
    if not raw_token or len(raw_token) > 200:
        return None
    invite = Invite.objects.filter(token_hash=hash_token(raw_token)).first()
    return invite if invite is not None and invite.is_usable else None


@transaction.atomic
def invite_revoke(*, actor: User, invite: Invite, request: HttpRequest | None = None) -> Invite:
    if not roles.can_grant(actor, invite.role):
        raise AccessError("You can't revoke an invite for a role above your own.")
    now = timezone.now()
    changed = Invite.objects.filter(
        pk=invite.pk, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    if changed != 1:
        raise AccessError("That invite was already used or revoked.")
    invite.refresh_from_db()
    audit_record(
        "invite.revoked", actor=actor, request=request, target=invite, data={"role": invite.role}
    )
    return invite


def username_is_taken(username: str) -> bool:
    return User.objects.filter(username__iexact=username).exists()


def invite_accept_with_password(
    *, raw_token: str, username: str, password: str, request: HttpRequest | None = None
) -> User:
    """Join through an invite with a username and password, for a Switchboard without GitHub
    sign-in (where GitHub is set up, it stays the way in: one identity per person).

    The caller validated the password (Django's validators); this creates the member with the
    invite's role, spends the invite and records it. AccessError when the invite can't be used
    any more or the username is taken (checked here too: two people may race for one name).
    """
    if github_login_enabled():
        raise AccessError("This Switchboard signs people in with GitHub: use the GitHub button.")
    if not settings.PASSWORD_LOGIN_ENABLED:
        raise AccessError("Password sign-in is turned off on this Switchboard.")
    try:
        with transaction.atomic():
            invite = invite_find_usable(raw_token=raw_token)
            if invite is None:
                raise AccessError("This invite link is invalid, used, revoked or expired.")
            if username_is_taken(username):
                raise AccessError("That username is taken; choose another.")
            user = User.objects.create_user(username=username, password=password, role=invite.role)
            if not _invite_consume(invite=invite, user=user):
                # Lost a race for the same invite: the exception rolls back the new user too.
                raise AccessError("This invite link has already been used.")
            audit_record(
                "invite.accepted",
                actor=user,
                request=request,
                target=invite,
                data={"role": invite.role, "username": username, "via": "password"},
            )
    except IntegrityError:
        raise AccessError("That username is taken; choose another.") from None
    return user


def _invite_consume(*, invite: Invite, user: User) -> bool:
    """Single use: only one sign-in can flip used_at from NULL."""
    now = timezone.now()
    return (
        Invite.objects.filter(
            pk=invite.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(used_at=now, used_by=user)
        == 1
    )


# --- direct add (pre-authorised GitHub logins) -----------------------------------------------
GITHUB_LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


def _free_username(base: str, github_id: int | None = None) -> str:
    base = base[:120] or "user"
    if not User.objects.filter(username__iexact=base).exists():
        return base
    candidate = f"{base}-{github_id}" if github_id else f"{base}-gh"
    n = 2
    while User.objects.filter(username__iexact=candidate).exists():
        candidate = f"{base}-{n}"
        n += 1
    return candidate


@transaction.atomic
def preauth_create(
    *, actor: User, github_login: str, role: str, request: HttpRequest | None = None
) -> User:
    """Pre-authorise a GitHub login with a role; they get in at their first GitHub sign-in."""
    login = github_login.strip().lstrip("@")
    if not GITHUB_LOGIN_RE.match(login):
        raise AccessError("That is not a valid GitHub login.")
    if role not in Role.values or not roles.can_grant(actor, role):
        raise AccessError("You can't add people with that role.")
    existing = User.objects.filter(github_login__iexact=login).first()
    if existing is not None and existing.is_active:
        raise AccessError(f"@{login} is already on the team or pre-authorised.")
    if existing is not None:
        # A removed member comes back: reuse their row, so their history stays theirs.
        user = existing
        user.is_active = True
    else:
        user = User(username=_free_username(login), github_login=login)
        user.set_unusable_password()
    user.role = role
    user.preauthorized = True
    user.save()
    audit_record(
        "member.preauthorized",
        actor=actor,
        request=request,
        target=user,
        data={"github_login": login, "role": role},
    )
    return user


@transaction.atomic
def preauth_revoke(*, actor: User, user: User, request: HttpRequest | None = None) -> None:
    if not user.preauthorized:
        raise AccessError("That person has already signed in; remove them instead.")
    if not roles.can_grant(actor, user.role):
        raise AccessError("You can't revoke a pre-authorisation above your own role.")
    label = user.github_login
    audit_record(
        "member.preauth_revoked",
        actor=actor,
        request=request,
        target=user,
        data={"github_login": label, "role": user.role},
    )
    if user.last_login is None and user.github_id is None:
        user.delete()
    else:
        User.objects.filter(pk=user.pk).update(preauthorized=False, is_active=False, role="")


# --- GitHub admission -------------------------------------------------------------------------
@dataclass(frozen=True)
class GithubProfile:
    github_id: int
    login: str
    name: str = ""
    avatar_url: str = ""

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> GithubProfile:
        return cls(
            github_id=int(data["id"]),
            login=str(data.get("login") or "")[:100],
            name=str(data.get("name") or "")[:150],
            avatar_url=str(data.get("avatar_url") or "")[:500],
        )


def _refresh_profile(user: User, profile: GithubProfile) -> None:
    user.github_id = profile.github_id
    user.github_login = profile.login
    user.display_name = profile.name
    user.avatar_url = profile.avatar_url


@transaction.atomic
def github_sign_in(
    *, profile: GithubProfile, invite_token: str = "", request: HttpRequest | None = None
) -> tuple[User, str]:
    """Decide whether a GitHub identity may enter, and return (user, how).

    `how` is "invite", "preauthorized" or "returning". An identity that is none of these raises
    SignInRefused and nothing is written. The profile (login, name, avatar) is refreshed on every
    sign-in.
    """
    known = User.objects.select_for_update().filter(github_id=profile.github_id).first()
    invite = invite_find_usable(raw_token=invite_token) if invite_token else None

    if known is not None and known.is_active and invite is None:
        _refresh_profile(known, profile)
        known.preauthorized = False
        known.save()
        return known, "returning"

    if invite is not None:
        user = known or _preauthorized_for(profile.login)
        if user is None:
            user = User(username=_free_username(profile.login, profile.github_id))
            user.set_unusable_password()
            user.save()
        if not _invite_consume(invite=invite, user=user):
            # Lost a race for the same invite: the exception rolls back the new user too.
            raise SignInRefused("This invite link has already been used.")
        previous = user.role if user.is_active else ""
        # An invite never demotes a current member (that would be a role change by a link).
        if not user.is_active or roles.RANK[invite.role] > roles.RANK.get(user.role, 0):
            user.role = invite.role
        user.is_active = True
        user.preauthorized = False
        _refresh_profile(user, profile)
        user.save()
        audit_record(
            "invite.accepted",
            actor=user,
            request=request,
            target=invite,
            data={"role": invite.role, "github_login": profile.login, "previous_role": previous},
        )
        return user, "invite"

    if known is None:
        user = _preauthorized_for(profile.login)
        if user is not None:
            _refresh_profile(user, profile)
            user.preauthorized = False
            user.save()
            audit_record(
                "member.joined",
                actor=user,
                request=request,
                target=user,
                data={"via": "preauthorized", "role": user.role},
            )
            return user, "preauthorized"
    raise SignInRefused(profile.login)


def _preauthorized_for(login: str) -> User | None:
    if not login:
        return None
    return (
        User.objects.select_for_update()
        .filter(
            github_login__iexact=login, github_id__isnull=True, is_active=True, preauthorized=True
        )
        .first()
    )


# --- roles and removal -----------------------------------------------------------------------
def _other_owners(member: User) -> int:
    # Lock the owner rows so two owners demoting each other at once can't both succeed.
    owners = list(
        User.objects.select_for_update()
        .filter(role=Role.OWNER, is_active=True, preauthorized=False)
        .exclude(pk=member.pk)
        .values_list("pk", flat=True)
    )
    return len(owners)


@transaction.atomic
def member_set_role(
    *, actor: User, member: User, role: str, request: HttpRequest | None = None
) -> User:
    if not roles.can_change_roles(actor):
        raise AccessError("Only owners change roles.")
    if role not in Role.values or not roles.can_grant(actor, role):
        raise AccessError("You can't grant that role.")
    member = User.objects.select_for_update().get(pk=member.pk)
    if not member.is_active or not member.role:
        raise AccessError("That person is not on the team.")
    previous = member.role
    if previous == role:
        return member
    if previous == Role.OWNER and not member.preauthorized and _other_owners(member) == 0:
        raise AccessError("The team needs at least one owner; make someone else owner first.")
    member.role = role
    member.save(update_fields=["role"])
    audit_record(
        "member.role_changed",
        actor=actor,
        request=request,
        target=member,
        data={"from": previous, "to": role},
    )
    _revoke_sockets_after_commit(member.pk)
    return member


@transaction.atomic
def member_remove(*, actor: User, member: User, request: HttpRequest | None = None) -> None:
    """Take someone off the team and end their sessions at once.

    The row stays (inactive, no role) so the audit log and past work keep their author.
    """
    if not roles.can_remove_members(actor):
        raise AccessError("Only owners remove members.")
    member = User.objects.select_for_update().get(pk=member.pk)
    if member.pk == actor.pk:
        raise AccessError("You can't remove yourself; ask another owner.")
    if not member.is_active:
        raise AccessError("That person is not on the team.")
    if member.role == Role.OWNER and _other_owners(member) == 0:
        raise AccessError("The team needs at least one owner.")
    previous = member.role
    member.is_active = False
    member.role = ""
    member.preauthorized = False
    # A new password hash changes the session auth hash: every session of theirs is void now,
    # whatever the session backend.
    member.set_unusable_password()
    member.save()
    _delete_sessions_of(member)
    audit_record(
        "member.removed", actor=actor, request=request, target=member, data={"role": previous}
    )
    _revoke_sockets_after_commit(member.pk)


def _revoke_sockets_after_commit(user_id: int) -> None:
    from apps.realtime.publish import revoke_sockets

    def revoke() -> None:
        try:
            revoke_sockets(user_id)
        except Exception:  # noqa: BLE001 - a dead channel layer must not undo the change
            logging.getLogger(__name__).exception("closing the live pages of %s failed", user_id)

    transaction.on_commit(revoke)


def _delete_sessions_of(user: User) -> None:
    """Also drop their database sessions, so nothing of theirs lingers (best effort)."""
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return
    from django.contrib.sessions.models import Session

    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            doomed.append(session.pk)
    Session.objects.filter(pk__in=doomed).delete()


# --- GitHub sign-in settings -------------------------------------------------------------------
@transaction.atomic
def github_sign_in_save(
    *,
    actor: User,
    client_id: str,
    client_secret: str,
    github_url: str = "",
    request: HttpRequest | None = None,
) -> GithubSignIn:
    """Store the GitHub OAuth app that Settings → Sign-in shows. An empty secret keeps the one
    stored. Refused while the environment's GITHUB_CLIENT_ID is in effect: it would be ignored."""
    if not roles.is_owner(actor):
        raise AccessError("Only owners set up sign-in.")
    if env_in_effect():
        raise AccessError("GITHUB_CLIENT_ID is set in the environment; it wins over this page.")
    config = GithubSignIn.objects.select_for_update().filter(pk=1).first() or GithubSignIn(pk=1)
    previous = {"client_id": config.client_id, "github_url": config.github_url}
    config.client_id = client_id.strip()
    config.github_url = github_url.strip().rstrip("/")
    secret_changed = bool(client_secret)
    if secret_changed:
        config.client_secret = client_secret.strip()
        config.secret_hint = client_secret.strip()[-4:]
    if not config.client_id:
        config.client_secret, config.secret_hint = "", ""
    config.updated_by = actor
    config.full_clean(exclude=["updated_by"])
    config.save()
    audit_record(
        "settings.github_sign_in_saved",
        actor=actor,
        request=request,
        target=config,
        data={
            "client_id": config.client_id,
            "github_url": config.github_url,
            "secret_changed": secret_changed,
            "previous": previous,
        },
    )
    return config


def github_sign_in_check() -> CheckResult:
    """Check the credentials in effect (the environment's, else the saved ones) against GitHub."""
    config = github_config()
    if config.source == "env":
        return check_credentials(
            client_id=config.client_id, secret=config.secret, web_url=config.web_url
        )
    stored = GithubSignIn.load()
    return check_credentials(
        client_id=stored.client_id,
        secret=stored.client_secret,
        web_url=stored.github_url or github_endpoints()[0],
    )
