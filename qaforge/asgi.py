"""ASGI entry point: Django for every request (the SSE router is added by the live-updates feature)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
application = get_asgi_application()
