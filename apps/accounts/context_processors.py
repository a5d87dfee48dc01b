from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.accounts.github import github_login_enabled


def sign_in(request: HttpRequest) -> dict[str, Any]:
    # Lazy: only the sign-in, invite and team pages ask, and the answer may need a query.
    return {"github_login_enabled": SimpleLazyObject(github_login_enabled)}
