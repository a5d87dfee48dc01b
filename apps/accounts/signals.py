"""Third-party hooks only: Django's auth signals feed the audit log with sign-ins and sign-outs."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from apps.core.audit import audit_record


@receiver(user_logged_in, dispatch_uid="accounts.audit_sign_in")
def _audit_sign_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from apps.accounts.adapters import LOGIN_METHOD_ATTR

    method = getattr(request, LOGIN_METHOD_ATTR, "") if request is not None else ""
    if not method:
        method = "password"
    audit_record("auth.sign_in", actor=user, request=request, target=user, data={"method": method})


@receiver(user_logged_out, dispatch_uid="accounts.audit_sign_out")
def _audit_sign_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    audit_record("auth.sign_out", actor=user, request=request, target=user)
