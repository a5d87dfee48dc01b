from __future__ import annotations

import os

from celery import Celery

from apps.core.embedded_broker import register as register_embedded_broker

register_embedded_broker()  # the `sbfs://` broker of the embedded mode

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
