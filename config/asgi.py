"""HTTP and WebSockets in one ASGI application.

`application` is Django's ASGI stack for both (the Procfile's `ws` process serves only
WebSockets with it). `one_process_application()` is what `manage.py serve` runs: the same
WebSockets, and plain HTTP through the WSGI application (config/wsgi.py, with its fast paths)
on a thread pool instead of Django's one-thread ASGI path (apps/core/asgi_http.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.realtime.routing import websocket_urlpatterns  # noqa: E402

websockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websockets})


def one_process_application(threads: int) -> ProtocolTypeRouter:
    from apps.core.asgi_http import WsgiOverAsgi
    from config.wsgi import application as wsgi_application

    return ProtocolTypeRouter(
        {"http": WsgiOverAsgi(wsgi_application, threads=threads), "websocket": websockets}
    )
