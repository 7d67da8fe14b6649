"""The web process: Django for the portal and REST API. The lean gateway handlers for the
market data and account streams are mounted beside Django here as they are added."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orgportal.settings")

application = get_asgi_application()
