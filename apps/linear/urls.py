from __future__ import annotations

from django.urls import path

from apps.linear import app_views, routing_views, views

urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/issues/<int:pk>/move/", views.board_move, name="board-move"),
    path("board/issues/<int:pk>/assign/", views.board_assign, name="board-assign"),
    path("settings/integrations/linear/", views.linear_settings, name="linear-settings"),
    path("settings/integrations/linear/app/install/", app_views.app_install_start,
         name="linear-app-install"),
    path("settings/integrations/linear/app/callback/", app_views.app_install_callback,
         name="linear-app-callback"),
    path("settings/integrations/linear/app/<int:pk>/remove/", app_views.app_install_remove,
         name="linear-app-remove"),
    path(
        "settings/integrations/linear/routing/", routing_views.routing_list, name="linear-routing"
    ),
    path(
        "settings/integrations/linear/routing/new/",
        routing_views.routing_edit,
        name="linear-routing-new",
    ),
    path(
        "settings/integrations/linear/routing/<int:pk>/",
        routing_views.routing_edit,
        name="linear-routing-edit",
    ),
    path(
        "settings/integrations/linear/routing/<int:pk>/delete/",
        routing_views.routing_delete,
        name="linear-routing-delete",
    ),
]
