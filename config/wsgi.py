import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

# Plain heartbeats and single span events are answered before Django's stack; everything
# else goes to Django.
from apps.agents.fastpath import FastPath  # noqa: E402 (needs the app registry)

application = FastPath(django_application)
