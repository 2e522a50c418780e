"""The WSGI application for synchronous servers (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")
application = get_wsgi_application()
