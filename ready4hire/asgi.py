"""The ASGI entry point (`make serve`: uvicorn): the grading endpoint's async path waits on the LLM server
without a thread per waiting client; every other view runs as under WSGI, in Django's sync thread pool."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")
application = get_asgi_application()
