"""The server-side switch for password sign-in.

Listed first in AUTHENTICATION_BACKENDS: when PASSWORD_LOGIN_ENABLED is off, any attempt to
authenticate with a password (allauth's form, the Django admin's login form, anything calling
django.contrib.auth.authenticate) is stopped here before a real backend checks the password.
It has no get_user(), so Django never picks it to hold a session.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class PasswordLoginSwitch:
    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        if "password" in credentials and not settings.PASSWORD_LOGIN_ENABLED:
            # PermissionDenied makes django.contrib.auth.authenticate() stop at once.
            raise PermissionDenied("Password sign-in is turned off.")
        return None
