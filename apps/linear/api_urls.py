from __future__ import annotations

from django.urls import path

from apps.linear import apis

urlpatterns = [
    path("linear/webhook", apis.webhook, name="linear-webhook"),
    path("linear/issues", apis.IssueList.as_view(), name="linear-issues"),
]
