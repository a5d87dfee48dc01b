"""Where a form may send the person back to: only a path on this site."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def local_next(request: HttpRequest, default: str) -> str:
    """The request's `next` when it is a path on this site ("/alerts/3/"), else `default`:
    never another host, a scheme-relative "//host" or a "/\\host" trick."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (target.startswith("/") and not target.startswith(("//", "/\\"))
            and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure())):
        return target
    return default
