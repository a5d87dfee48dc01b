"""Claim, invite acceptance, the team page and the audit log. Thin: services decide."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts import selectors, services
from apps.accounts.adapters import INVITE_SESSION_KEY, LOGIN_METHOD_ATTR
from apps.accounts.forms import (
    ClaimForm,
    GithubSignInForm,
    InviteForm,
    JoinForm,
    PreauthForm,
    RoleForm,
    grantable_roles,
)
from apps.accounts.github import env_in_effect, github_config, github_login_enabled
from apps.accounts.models import GithubSignIn, Invite, User
from apps.core import roles
from apps.core.links import absolute_url
from apps.core.permissions import admin_required, member_required, owner_required
from apps.core.roles import Role

NEW_INVITE_SESSION_KEY = "accounts.new_invite"
AUDIT_PAGE_SIZE = 50


def team_name() -> str:
    return getattr(settings, "SITE_NAME", "") or "Switchboard"


# --- claim ---------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@never_cache
def claim(request: HttpRequest, token: str) -> HttpResponse:
    if not services.claim_token_is_usable(raw_token=token):
        return render(request, "accounts/claim_invalid.html", status=410)
    form = ClaimForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.claim_complete(
                raw_token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                request=request,
            )
        except services.AccessError:
            return render(request, "accounts/claim_invalid.html", status=410)
        setattr(request, LOGIN_METHOD_ATTR, "claim")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request,
            "You own this Switchboard. Invite your team from Settings → Team.",
        )
        return redirect("/")
    return render(request, "accounts/claim.html", {"form": form, "team_name": team_name()})


# --- invite ----------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@never_cache
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    invite = services.invite_find_usable(raw_token=token)
    if invite is None:
        request.session.pop(INVITE_SESSION_KEY, None)
        # One page and one status for expired, used, revoked and made-up tokens alike.
        return render(request, "accounts/invite_invalid.html", status=410)
    github = github_login_enabled()
    # Without GitHub sign-in the invite is accepted here, with a username and password.
    password_join = not github and settings.PASSWORD_LOGIN_ENABLED
    form = JoinForm(request.POST or None) if password_join else None
    if request.method == "POST":
        if form is None:
            return redirect("invite-accept", token=token)
        if form.is_valid():
            try:
                user = services.invite_accept_with_password(
                    raw_token=token,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                    request=request,
                )
            except services.AccessError as exc:
                if services.invite_find_usable(raw_token=token) is None:
                    return render(request, "accounts/invite_invalid.html", status=410)
                form.add_error("username", str(exc))
            else:
                setattr(request, LOGIN_METHOD_ATTR, "invite")
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(
                    request, f"Welcome to the team. You joined as {Role(user.role).label}."
                )
                return redirect("/")
    if github:
        # Kept until the GitHub round trip comes back; the adapter spends it.
        request.session[INVITE_SESSION_KEY] = token
    return render(
        request,
        "accounts/invite.html",
        {
            "invite": invite,
            "team_name": team_name(),
            "inviter": invite.created_by,
            "role_label": Role(invite.role).label,
            "role_powers": roles.ROLE_POWERS[invite.role],
            "form": form,
        },
        status=400 if form is not None and form.errors else 200,
    )


# --- team --------------------------------------------------------------------------------------
@require_GET
@member_required
def team(request: HttpRequest) -> HttpResponse:
    actor = request.user
    can_invite = roles.is_admin(actor)
    new_invite = request.session.pop(NEW_INVITE_SESSION_KEY, None)
    context = {
        "members": selectors.team_members(),
        "can_invite": can_invite,
        "can_change_roles": roles.can_change_roles(actor),
        "can_remove": roles.can_remove_members(actor),
        "role_choices": [
            (value, label, roles.ROLE_POWERS[value]) for value, label in grantable_roles(actor)
        ],
        "all_roles": [(r.value, r.label, roles.ROLE_POWERS[r]) for r in Role],
        "new_invite": new_invite,
        "team_name": team_name(),
        "sign_in_url": absolute_url(reverse("account_login"), request),
    }
    if can_invite:
        context["invites"] = list(selectors.pending_invites())
        context["preauths"] = list(selectors.preauthorized_logins())
        context["pending_count"] = len(context["invites"]) + len(context["preauths"])
        context["invite_form"] = InviteForm(actor=actor)
        context["preauth_form"] = PreauthForm(actor=actor)
    return render(request, "accounts/team.html", context)


@require_POST
@admin_required
def team_invite_create(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST, actor=request.user)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect("team")
    days = form.cleaned_data["days"]
    try:
        invite, raw = services.invite_create(
            actor=request.user,
            role=form.cleaned_data["role"],
            note=form.cleaned_data["note"],
            ttl_days=days,
            request=request,
        )
    except services.AccessError as exc:
        messages.error(request, str(exc))
        return redirect("team")
    # Shown once, on the next page view; only the hash is stored.
    request.session[NEW_INVITE_SESSION_KEY] = {
        "url": absolute_url(reverse("invite-accept", args=[raw]), request),
        "role": Role(invite.role).label,
        "expires_label": f"{days} day{'s' if days != 1 else ''} ({invite.expires_at:%d %b %Y})",
        "note": invite.note,
    }
    return redirect("team")


@require_POST
@admin_required
def team_invite_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invite = get_object_or_404(Invite, pk=pk)
    try:
        services.invite_revoke(actor=request.user, invite=invite, request=request)
        messages.success(request, "Invite revoked; its link no longer works.")
    except services.AccessError as exc:
        messages.error(request, str(exc))
    return redirect("team")


@require_POST
@admin_required
def team_preauth_create(request: HttpRequest) -> HttpResponse:
    form = PreauthForm(request.POST, actor=request.user)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect("team")
    try:
        user = services.preauth_create(
            actor=request.user,
            github_login=form.cleaned_data["github_login"],
            role=form.cleaned_data["role"],
            request=request,
        )
        if github_login_enabled():
            messages.success(
                request,
                f"@{user.github_login} can now sign in with GitHub as {Role(user.role).label}.",
            )
        else:
            messages.warning(
                request,
                f"@{user.github_login} is added as {Role(user.role).label}, but GitHub sign-in "
                "is not set up yet, so they can't get in that way. Send them an invite link "
                "instead: it lets them choose a username and password.",
            )
    except services.AccessError as exc:
        messages.error(request, str(exc))
    return redirect("team")


@require_POST
@admin_required
def team_preauth_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk, preauthorized=True, is_active=True)
    try:
        services.preauth_revoke(actor=request.user, user=user, request=request)
        messages.success(request, f"@{user.github_login} is no longer pre-authorised.")
    except services.AccessError as exc:
        messages.error(request, str(exc))
    return redirect("team")


@require_http_methods(["GET", "POST"])
@owner_required
def team_member_role(request: HttpRequest, pk: int) -> HttpResponse:
    """A role changes only once confirmed: the team page asks in a dialog and posts `confirm`;
    without JavaScript (or from a bare POST) this page asks instead."""
    member = get_object_or_404(User.objects.members(), pk=pk)
    form = RoleForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or viewer.")
        return redirect("team")
    role = form.cleaned_data["role"]
    if role == member.role:
        return redirect("team")
    if request.method == "GET" or request.POST.get("confirm") != "1":
        return render(
            request,
            "accounts/role_confirm.html",
            {
                "member": member,
                "role": role,
                "role_label": Role(role).label,
                "previous_label": Role(member.role).label,
                "role_powers": roles.ROLE_POWERS[role],
                "is_self": member.pk == request.user.pk,
            },
        )
    try:
        member = services.member_set_role(
            actor=request.user, member=member, role=role, request=request
        )
        messages.success(request, f"{member.label} is now {Role(member.role).label}.")
    except services.AccessError as exc:
        messages.error(request, str(exc))
    return redirect("team")


@require_POST
@owner_required
def team_member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(User.objects.members(), pk=pk)
    try:
        services.member_remove(actor=request.user, member=member, request=request)
        messages.success(request, f"{member.label} was removed and signed out everywhere.")
    except services.AccessError as exc:
        messages.error(request, str(exc))
    return redirect("team")


# --- sign-in settings -----------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@owner_required
def sign_in_settings(request: HttpRequest) -> HttpResponse:
    stored = GithubSignIn.load()
    env = env_in_effect()
    form = GithubSignInForm(
        initial={"client_id": stored.client_id, "github_url": stored.github_url}
    )
    check = None
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "check":
            check = services.github_sign_in_check()
        elif action == "save" and not env:
            form = GithubSignInForm(request.POST)
            if form.is_valid():
                try:
                    services.github_sign_in_save(actor=request.user, request=request,
                                                 **form.cleaned_data)
                except services.AccessError as exc:
                    messages.error(request, str(exc))
                except ValidationError as exc:
                    messages.error(request, " ".join(exc.messages))
                else:
                    messages.success(
                        request, "GitHub sign-in saved. Use Test to check it with GitHub."
                    )
                return redirect("settings-sign-in")
            status = 400
        else:
            messages.error(request, "The environment's settings are in effect; nothing was saved."
                           if env else "Unknown action.")
            return redirect("settings-sign-in")
    return render(
        request,
        "accounts/sign_in_settings.html",
        {
            "form": form,
            "stored": stored,
            "env": env,
            "config": github_config(),
            "callback_url": absolute_url(reverse("github_callback"), request),
            "homepage_url": absolute_url("/", request),
            "check": check,
            "password_login_enabled": settings.PASSWORD_LOGIN_ENABLED,
        },
        status=status,
    )


# --- audit -------------------------------------------------------------------------------------
@require_GET
@admin_required
def audit(request: HttpRequest) -> HttpResponse:
    actions = selectors.audit_actions()
    action = request.GET.get("action", "")
    if action not in actions:
        action = ""
    paginator = Paginator(selectors.audit_entries(action=action), AUDIT_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/audit.html",
        {"page": page, "entries": page.object_list, "actions": actions, "action": action},
    )


def _first_error(form: object) -> str:
    for field, errors in form.errors.items():  # type: ignore[attr-defined]
        label = form.fields[field].label if field in form.fields else ""  # type: ignore[attr-defined]
        return f"{label or field}: {errors[0]}" if field != "__all__" else errors[0]
    return "Please check the form."
