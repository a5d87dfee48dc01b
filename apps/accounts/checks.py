from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def trusted_proxy_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for item in settings.TRUSTED_PROXY_IPS:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"TRUSTED_PROXY_IPS: {item!r} is not an IP address or network.",
                    id="accounts.E001",
                )
            )
    return errors
