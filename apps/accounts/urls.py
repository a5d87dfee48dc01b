from __future__ import annotations

from django.urls import path

from apps.accounts import views

urlpatterns = [
    path("claim/<str:token>/", views.claim, name="claim"),
    path("invite/<str:token>/", views.invite_accept, name="invite-accept"),
    path("settings/team/", views.team, name="team"),
    path("settings/team/invites/", views.team_invite_create, name="team-invite-create"),
    path(
        "settings/team/invites/<int:pk>/revoke/",
        views.team_invite_revoke,
        name="team-invite-revoke",
    ),
    path("settings/team/preauthorized/", views.team_preauth_create, name="team-preauth-create"),
    path(
        "settings/team/preauthorized/<int:pk>/revoke/",
        views.team_preauth_revoke,
        name="team-preauth-revoke",
    ),
    path("settings/team/members/<int:pk>/role/", views.team_member_role, name="team-member-role"),
    path(
        "settings/team/members/<int:pk>/remove/",
        views.team_member_remove,
        name="team-member-remove",
    ),
    path("settings/sign-in/", views.sign_in_settings, name="settings-sign-in"),
    path("settings/audit/", views.audit, name="audit"),
]
