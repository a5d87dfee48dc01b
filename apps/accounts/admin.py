"""Owners' admin for people, invites and claim tokens. Token hashes are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.models import ClaimToken, Invite, User
from apps.core.admin import OwnerAdmin, ReadOnlyOwnerAdmin
from apps.core.audit import audit_record


@admin.register(User)
class UserAdmin(OwnerAdmin, DjangoUserAdmin):  # OwnerAdmin first: its permission rules win
    list_display = (
        "username",
        "github_login",
        "display_name",
        "role",
        "is_active",
        "preauthorized",
        "last_seen_at",
        "date_joined",
    )
    list_filter = ("role", "is_active", "preauthorized", "is_superuser")
    search_fields = ("username", "github_login", "display_name", "email")
    ordering = ("username",)
    readonly_fields = ("github_id", "avatar_url", "last_seen_at", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Team", {"fields": ("role", "is_active", "preauthorized")}),
        ("GitHub", {"fields": ("github_login", "github_id", "display_name", "avatar_url")}),
        ("Personal", {"fields": ("first_name", "last_name", "email")}),
        (
            "Django permissions",
            {
                "classes": ("collapse",),
                "fields": ("is_staff", "is_superuser", "groups", "user_permissions"),
            },
        ),
        ("Dates", {"fields": ("last_seen_at", "last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "role", "password1", "password2")}),
    )

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        """A role change or a removal goes through the team's services: audited, and never
        leaving the team without an owner (which would lock everyone out of this admin)."""
        if not change or not {"role", "is_active"} & set(form.changed_data):
            return super().save_model(request, obj, form, change)
        from apps.accounts.services import AccessError, member_remove, member_set_role

        stored = User.objects.get(pk=obj.pk)
        role, active = obj.role, obj.is_active
        obj.role, obj.is_active = stored.role, stored.is_active
        super().save_model(request, obj, form, change)  # the other fields
        try:
            if stored.is_active and not active:
                member_remove(actor=request.user, member=obj, request=request)
            elif role != stored.role:
                member_set_role(actor=request.user, member=obj, role=role, request=request)
        except AccessError as exc:
            messages.error(request, f"Not changed: {exc}")
        obj.refresh_from_db()


@admin.register(Invite)
class InviteAdmin(OwnerAdmin):
    list_display = (
        "__str__",
        "role",
        "state_label",
        "note",
        "created_by",
        "created_at",
        "expires_at",
        "used_by",
    )
    list_filter = ("role", "created_at")
    search_fields = ("note", "created_by__username", "used_by__username")
    # token_hash is left out entirely: it is useless to a human and must not leak.
    fields = (
        "role",
        "note",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
        "used_by",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ("revoke",)
    list_select_related = ("created_by", "used_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the raw token could not be shown; invites are made on the Team page

    @admin.display(description="state")
    def state_label(self, obj: Invite) -> str:
        return obj.state

    @admin.action(description="Revoke selected invites")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invite]) -> None:
        now = timezone.now()
        pending = list(queryset.filter(used_at__isnull=True, revoked_at__isnull=True))
        Invite.objects.filter(pk__in=[i.pk for i in pending], revoked_at__isnull=True).update(
            revoked_at=now
        )
        for invite in pending:
            audit_record(
                "invite.revoked",
                request=request,
                target=invite,
                data={"role": invite.role, "via": "admin"},
            )
        self.message_user(request, f"Revoked {len(pending)} invite(s).", messages.SUCCESS)


@admin.register(ClaimToken)
class ClaimTokenAdmin(ReadOnlyOwnerAdmin):
    list_display = ("__str__", "created_at", "expires_at", "used_at")
    fields = ("created_at", "expires_at", "used_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("token_hash")
